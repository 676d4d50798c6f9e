-- Run once by the postgres image on an empty data volume (/docker-entrypoint-initdb.d):
-- one database per service, owned by POSTGRES_USER. No service reads another's database.
CREATE DATABASE registration;
CREATE DATABASE feedback;
CREATE DATABASE notifier;
