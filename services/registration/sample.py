"""The sample programme: the 8th "Security, Democracy & Cities" conference (Brussels).

The real edition ran from 20 to 22 March 2024. The sample keeps its structure and
themes but is dated in the future, so registration is open whenever someone runs
`make run`: it starts on the first Wednesday at least 60 days from today.

Every text a participant reads is given in French, Dutch and English. Speakers are
described by their function, as the programme announces them before names are confirmed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.registration.models import Event
from services.registration.programme import create_event, create_session

SLUG = "sdc-brussels"
TIMEZONE = ZoneInfo("Europe/Brussels")
LEAD_DAYS = 60
WEDNESDAY = 2
# A field visit's few places are what fake registrations squat: each is held for two hours
# until the participant confirms their email address.
FIELD_VISIT_HOLD_MINUTES = 120

EVENT = {
    "slug": SLUG,
    "title": "Security, Democracy & Cities",
    "title_translations": {
        "fr": "Sécurité, démocratie et villes",
        "nl": "Veiligheid, democratie en steden",
        "en": "Security, Democracy & Cities",
    },
    "city": "Brussels",
    "city_translations": {"fr": "Bruxelles", "nl": "Brussel", "en": "Brussels"},
    "timezone": "Europe/Brussels",
    "languages": ["fr", "nl", "en"],
}

# Slot: (day of the conference from 0, local start, local end). Sessions in one slot overlap.
SLOTS = {
    "opening": (0, "09:30", "11:00"),
    "A": (0, "11:30", "13:00"),
    "B": (0, "14:30", "16:00"),
    "C": (0, "16:30", "18:00"),
    "D": (1, "09:30", "11:00"),
    "E": (1, "11:30", "13:00"),
    "visits": (1, "14:30", "17:30"),
    "F": (2, "09:30", "11:00"),
    "closing": (2, "11:30", "13:00"),
}

DRUGS = "Drugs and organised crime"
MENTAL_HEALTH = "Mental health and vulnerability"
NIGHT = "Night-time governance"
CRISES = "Crises and resilience"
TRUST = "Trust and democracy"
LIVING_TOGETHER = "Living together and polarisation"
PUBLIC_SPACE = "Safe public spaces"
PREVENTION = "Prevention, youth and victims"
POLICY = "Urban security policy"

# Each theme as readers see it; the English text stays the theme's key.
THEMES = {
    DRUGS: {"fr": "Drogues et criminalité organisée", "nl": "Drugs en georganiseerde misdaad"},
    MENTAL_HEALTH: {
        "fr": "Santé mentale et vulnérabilité",
        "nl": "Geestelijke gezondheid en kwetsbaarheid",
    },
    NIGHT: {"fr": "Gouvernance de la nuit", "nl": "Nachtbeleid"},
    CRISES: {"fr": "Crises et résilience", "nl": "Crisissen en veerkracht"},
    TRUST: {"fr": "Confiance et démocratie", "nl": "Vertrouwen en democratie"},
    LIVING_TOGETHER: {"fr": "Vivre-ensemble et polarisation", "nl": "Samenleven en polarisatie"},
    PUBLIC_SPACE: {"fr": "Des espaces publics sûrs", "nl": "Veilige openbare ruimte"},
    PREVENTION: {
        "fr": "Prévention, jeunesse et victimes",
        "nl": "Preventie, jongeren en slachtoffers",
    },
    POLICY: {"fr": "Politique de sécurité urbaine", "nl": "Stedelijk veiligheidsbeleid"},
}

HALL = "Plenary hall"
HORTA = "Room Horta"
MAGRITTE = "Room Magritte"
HERGE = "Room Hergé"
ENSOR = "Room Ensor"
DEPARTURE = "Departure: main entrance"
ROOMS = {
    HALL: {"fr": "Salle plénière", "nl": "Plenaire zaal"},
    HORTA: {"fr": "Salle Horta", "nl": "Zaal Horta"},
    MAGRITTE: {"fr": "Salle Magritte", "nl": "Zaal Magritte"},
    HERGE: {"fr": "Salle Hergé", "nl": "Zaal Hergé"},
    ENSOR: {"fr": "Salle Ensor", "nl": "Zaal Ensor"},
    DEPARTURE: {"fr": "Départ : entrée principale", "nl": "Vertrek: hoofdingang"},
}


def speaker(en: str, fr: str, nl: str, organisation: str = "") -> dict[str, Any]:
    """A speaker known by function only: no name yet, the function as the bio."""
    return {"name": "", "organisation": organisation, "bio": {"en": en, "fr": fr, "nl": nl}}


SESSIONS: list[dict[str, Any]] = [
    {
        "code": "PL1", "kind": "plenary", "theme": POLICY, "slot": "opening", "room": HALL,
        "capacity": None, "language": "fr",
        "title": {
            "en": "Opening plenary: cities where everyone feels free and safe",
            "fr": "Plénière d'ouverture : des villes où chacun se sent libre et en sécurité",
            "nl": "Openingsplenaire: steden waar iedereen zich vrij en veilig voelt",
        },
        "description": {
            "en": "Why cities hold the key to security and democracy in Europe, and what this "
            "conference will deliver: recommendations for the EU security strategy.",
            "fr": "Pourquoi les villes détiennent la clé de la sécurité et de la démocratie en "
            "Europe, et ce que cette conférence produira : des recommandations pour la "
            "stratégie européenne de sécurité.",
            "nl": "Waarom steden de sleutel zijn tot veiligheid en democratie in Europa, en wat "
            "deze conferentie oplevert: aanbevelingen voor de Europese veiligheidsstrategie.",
        },
        "speakers": [
            speaker("President, mayor of a member city", "Président, bourgmestre d'une ville "
                    "membre", "Voorzitter, burgemeester van een lidstad", "Efus"),
            speaker("Minister-President of the Brussels-Capital Region",
                    "Ministre-Président de la Région de Bruxelles-Capitale",
                    "Minister-president van het Brussels Hoofdstedelijk Gewest"),
            speaker("Director-General", "Directeur général", "Directeur-generaal",
                    "safe.brussels"),
            speaker("Representative of the Belgian federal government",
                    "Représentant du gouvernement fédéral belge",
                    "Vertegenwoordiger van de Belgische federale regering"),
        ],
    },
    {
        "code": "TS01", "kind": "thematic", "theme": DRUGS, "slot": "A", "room": HORTA,
        "capacity": 150, "language": "fr",
        "title": {
            "en": "Organised crime and drug trafficking: a threat to the democratic rule of law",
            "fr": "Criminalité organisée et trafic de drogues : une menace pour l'État de droit "
            "démocratique",
            "nl": "Georganiseerde misdaad en drugshandel: een bedreiging voor de democratische "
            "rechtsstaat",
        },
        "description": {
            "en": "Violence, corruption and intimidation linked to drug markets: how cities, "
            "prosecutors and national authorities can act together.",
            "fr": "Violence, corruption et intimidation liées aux marchés de la drogue : "
            "comment villes, parquets et autorités nationales peuvent agir ensemble.",
            "nl": "Geweld, corruptie en intimidatie rond drugsmarkten: hoe steden, parketten "
            "en nationale overheden samen kunnen optreden.",
        },
        "speakers": [
            speaker("National drugs commissioner (Belgium)",
                    "Commissaire national aux drogues (Belgique)",
                    "Nationaal drugscommissaris (België)"),
            speaker("Public prosecutor specialised in organised crime (Netherlands)",
                    "Procureur spécialisé en criminalité organisée (Pays-Bas)",
                    "Officier van justitie gespecialiseerd in georganiseerde misdaad "
                    "(Nederland)"),
            speaker("Mayor of a port city (Belgium)", "Bourgmestre d'une ville portuaire "
                    "(Belgique)", "Burgemeester van een havenstad (België)"),
        ],
    },
    {
        "code": "TS02", "kind": "thematic", "theme": MENTAL_HEALTH, "slot": "A",
        "room": MAGRITTE, "capacity": 100, "language": "en",
        "title": {
            "en": "Mental health in public spaces: police, municipal services and social "
            "workers working across silos",
            "fr": "Santé mentale dans l'espace public : police, services municipaux et "
            "travailleurs sociaux au-delà des cloisonnements",
            "nl": "Geestelijke gezondheid in de openbare ruimte: politie, gemeentediensten en "
            "hulpverleners werken over de schotten heen",
        },
        "description": {
            "en": "Supporting vulnerable people in the street without criminalising them: "
            "joint teams, shared protocols and training.",
            "fr": "Accompagner les personnes vulnérables dans la rue sans les criminaliser : "
            "équipes mixtes, protocoles communs et formation.",
            "nl": "Kwetsbare mensen op straat ondersteunen zonder hen te criminaliseren: "
            "gemengde teams, gedeelde protocollen en opleiding.",
        },
        "speakers": [
            speaker("Head of a municipal mental-health outreach team (Spain)",
                    "Responsable d'une équipe municipale de santé mentale de proximité "
                    "(Espagne)",
                    "Hoofd van een outreachend gemeentelijk team geestelijke gezondheid "
                    "(Spanje)"),
            speaker("Police superintendent, community policing unit (Belgium)",
                    "Commissaire de police, unité de police de proximité (Belgique)",
                    "Politiecommissaris, dienst wijkwerking (België)"),
            speaker("Psychiatrist, mobile crisis team (Germany)",
                    "Psychiatre, équipe mobile de crise (Allemagne)",
                    "Psychiater, mobiel crisisteam (Duitsland)"),
        ],
    },
    {
        "code": "PN1", "kind": "panel", "theme": NIGHT, "slot": "A", "room": HERGE,
        "capacity": 120, "language": "en",
        "title": {
            "en": "Governing the night: Paris, Bologna, Budapest and Brussels compare notes",
            "fr": "Gouverner la nuit : Paris, Bologne, Budapest et Bruxelles croisent leurs "
            "regards",
            "nl": "Het nachtleven besturen: Parijs, Bologna, Boedapest en Brussel vergelijken "
            "hun aanpak",
        },
        "description": {
            "en": "Night mayors, night councils and charters: four capitals and cities on "
            "balancing a lively night-time economy, residents' rest and safety.",
            "fr": "Maires de la nuit, conseils de la nuit et chartes : quatre capitales et "
            "villes sur l'équilibre entre une vie nocturne animée, le repos des riverains et "
            "la sécurité.",
            "nl": "Nachtburgemeesters, nachtraden en charters: vier hoofdsteden en steden over "
            "het evenwicht tussen een levendig nachtleven, de nachtrust van bewoners en "
            "veiligheid.",
        },
        "speakers": [
            speaker("Deputy mayor for night-time economy, Paris",
                    "Adjointe à la maire chargée de la vie nocturne, Paris",
                    "Adjunct-burgemeester voor het nachtleven, Parijs"),
            speaker("City councillor for security and urban policies, Bologna",
                    "Conseiller municipal chargé de la sécurité et des politiques urbaines, "
                    "Bologne",
                    "Gemeenteraadslid voor veiligheid en stedelijk beleid, Bologna"),
            speaker("Night-time economy coordinator, Budapest",
                    "Coordinatrice de la vie nocturne, Budapest",
                    "Coördinator nachtleven, Boedapest"),
            speaker("Night council representative, Brussels-Capital Region",
                    "Représentant du conseil de la nuit, Région de Bruxelles-Capitale",
                    "Vertegenwoordiger van de nachtraad, Brussels Hoofdstedelijk Gewest"),
        ],
    },
    {
        "code": "TS03", "kind": "thematic", "theme": CRISES, "slot": "A", "room": ENSOR,
        "capacity": 80, "language": "fr",
        "title": {
            "en": "Responding locally to multiplying crises",
            "fr": "Répondre localement à la multiplication des crises",
            "nl": "Lokaal antwoorden op een opeenstapeling van crisissen",
        },
        "description": {
            "en": "Pandemics, floods, energy and migration crises: what local authorities "
            "learned and how they prepare for the next one.",
            "fr": "Pandémies, inondations, crises énergétiques et migratoires : ce que les "
            "pouvoirs locaux en ont appris et comment ils se préparent à la prochaine.",
            "nl": "Pandemieën, overstromingen, energie- en migratiecrisissen: wat lokale "
            "besturen eruit leerden en hoe ze zich op de volgende voorbereiden.",
        },
        "speakers": [
            speaker("Emergency planning officer of a Belgian municipality",
                    "Fonctionnaire planification d'urgence d'une commune belge",
                    "Noodplanningsambtenaar van een Belgische gemeente"),
            speaker("Deputy mayor for civil protection (France)",
                    "Adjoint au maire chargé de la protection civile (France)",
                    "Schepen van civiele bescherming (Frankrijk)"),
            speaker("Researcher in crisis management (Italy)",
                    "Chercheuse en gestion de crise (Italie)",
                    "Onderzoeker crisisbeheer (Italië)"),
        ],
    },
    {
        "code": "TS04", "kind": "thematic", "theme": TRUST, "slot": "B", "room": HORTA,
        "capacity": 150, "language": "en",
        "title": {
            "en": "How to strengthen citizens' trust in institutions",
            "fr": "Comment renforcer la confiance des citoyens dans les institutions",
            "nl": "Hoe versterken we het vertrouwen van burgers in de instellingen?",
        },
        "description": {
            "en": "Participation, transparency and accountability of local security policies "
            "as levers of trust.",
            "fr": "Participation, transparence et redevabilité des politiques locales de "
            "sécurité comme leviers de confiance.",
            "nl": "Participatie, transparantie en verantwoording van het lokale "
            "veiligheidsbeleid als hefbomen voor vertrouwen.",
        },
        "speakers": [
            speaker("Mayor of a medium-sized city (Portugal)",
                    "Maire d'une ville moyenne (Portugal)",
                    "Burgemeester van een middelgrote stad (Portugal)"),
            speaker("Researcher in political science (Belgium)",
                    "Chercheur en science politique (Belgique)",
                    "Onderzoeker politieke wetenschappen (België)"),
            speaker("Citizens' panel facilitator (Ireland)",
                    "Animatrice de panels citoyens (Irlande)",
                    "Begeleider van burgerpanels (Ierland)"),
        ],
    },
    {
        "code": "TS05", "kind": "thematic", "theme": LIVING_TOGETHER, "slot": "B",
        "room": MAGRITTE, "capacity": 100, "language": "fr",
        "title": {
            "en": "Living together in diverse cities: reducing polarisation",
            "fr": "Mieux vivre ensemble dans des villes plurielles : réduire la polarisation",
            "nl": "Samenleven in diverse steden: polarisatie tegengaan",
        },
        "description": {
            "en": "Local dialogue, neighbourhood projects and communication strategies that "
            "bring residents together rather than apart.",
            "fr": "Dialogue local, projets de quartier et stratégies de communication qui "
            "rapprochent les habitants au lieu de les diviser.",
            "nl": "Lokale dialoog, buurtprojecten en communicatiestrategieën die bewoners "
            "samenbrengen in plaats van ze te verdelen.",
        },
        "speakers": [
            speaker("Head of social cohesion of a Flemish city (Belgium)",
                    "Responsable de la cohésion sociale d'une ville flamande (Belgique)",
                    "Diensthoofd samenleven van een Vlaamse stad (België)"),
            speaker("Community worker, intercultural centre (France)",
                    "Animatrice socioculturelle, centre interculturel (France)",
                    "Opbouwwerker, intercultureel centrum (Frankrijk)"),
            speaker("Researcher in social psychology (Netherlands)",
                    "Chercheur en psychologie sociale (Pays-Bas)",
                    "Onderzoeker sociale psychologie (Nederland)"),
        ],
    },
    {
        "code": "TS06", "kind": "thematic", "theme": PUBLIC_SPACE, "slot": "B",
        "room": HERGE, "capacity": 90, "language": "fr",
        "title": {
            "en": "Women's safety in public space: from exploratory walks to urban design",
            "fr": "La sécurité des femmes dans l'espace public : des marches exploratoires à "
            "l'aménagement urbain",
            "nl": "Veiligheid van vrouwen in de openbare ruimte: van verkenningswandelingen tot "
            "stedelijk ontwerp",
        },
        "description": {
            "en": "Street harassment, lighting, transport and design: cities that plan public "
            "space with the women who use it.",
            "fr": "Harcèlement de rue, éclairage, transports et aménagement : des villes qui "
            "conçoivent l'espace public avec les femmes qui l'utilisent.",
            "nl": "Straatintimidatie, verlichting, vervoer en inrichting: steden die de "
            "openbare ruimte ontwerpen samen met de vrouwen die ze gebruiken.",
        },
        "speakers": [
            speaker("Gender equality officer of a capital city (Spain)",
                    "Chargée de l'égalité des genres d'une capitale (Espagne)",
                    "Gendergelijkheidsambtenaar van een hoofdstad (Spanje)"),
            speaker("Urban planner specialised in gender-sensitive design (Austria)",
                    "Urbaniste spécialisée dans l'aménagement sensible au genre (Autriche)",
                    "Stedenbouwkundige gespecialiseerd in gendersensitief ontwerp "
                    "(Oostenrijk)"),
            speaker("Representative of a women's rights association (Belgium)",
                    "Représentante d'une association de défense des droits des femmes "
                    "(Belgique)",
                    "Vertegenwoordiger van een vrouwenrechtenorganisatie (België)"),
        ],
    },
    {
        "code": "TS07", "kind": "thematic", "theme": PREVENTION, "slot": "B",
        "room": ENSOR, "capacity": 70, "language": "nl",
        "title": {
            "en": "Youth and prevention: reaching young people at risk",
            "fr": "Jeunesse et prévention : aller vers les jeunes en situation de risque",
            "nl": "Jongeren en preventie: jongeren in een risicosituatie bereiken",
        },
        "description": {
            "en": "Street work, schools and sport: outreach that keeps young people away from "
            "crime and builds their prospects.",
            "fr": "Travail de rue, écoles et sport : un travail de proximité qui éloigne les "
            "jeunes de la délinquance et leur ouvre des perspectives.",
            "nl": "Straathoekwerk, scholen en sport: outreach die jongeren uit de criminaliteit "
            "houdt en hun toekomstkansen vergroot.",
        },
        "speakers": [
            speaker("Street worker coordinator (Belgium)",
                    "Coordinateur des travailleurs de rue (Belgique)",
                    "Coördinator straathoekwerk (België)"),
            speaker("Youth prevention officer of a municipality (Netherlands)",
                    "Chargée de prévention jeunesse d'une commune (Pays-Bas)",
                    "Preventiewerker jeugd van een gemeente (Nederland)"),
            speaker("Sports club director running an inclusion programme (Luxembourg)",
                    "Directeur d'un club sportif porteur d'un programme d'inclusion "
                    "(Luxembourg)",
                    "Directeur van een sportclub met een inclusieprogramma (Luxemburg)"),
        ],
    },
    {
        "code": "TS08", "kind": "thematic", "theme": DRUGS, "slot": "C", "room": HORTA,
        "capacity": 120, "language": "en",
        "title": {
            "en": "Local responses to drug markets and open drug scenes",
            "fr": "Réponses locales aux marchés de la drogue et aux scènes ouvertes",
            "nl": "Lokale antwoorden op drugsmarkten en open drugsscènes",
        },
        "description": {
            "en": "Harm reduction, policing and urban renewal around open drug scenes, with "
            "the people who use drugs and the residents who live nearby.",
            "fr": "Réduction des risques, action policière et rénovation urbaine autour des "
            "scènes ouvertes de consommation, avec les usagers de drogues et les riverains.",
            "nl": "Schadebeperking, politieaanpak en stadsvernieuwing rond open drugsscènes, "
            "samen met de druggebruikers en de omwonenden.",
        },
        "speakers": [
            speaker("Drug policy coordinator of a large city (Switzerland)",
                    "Coordinatrice de la politique drogues d'une grande ville (Suisse)",
                    "Coördinator drugbeleid van een grote stad (Zwitserland)"),
            speaker("Head of a harm-reduction service (Portugal)",
                    "Responsable d'un service de réduction des risques (Portugal)",
                    "Hoofd van een dienst voor schadebeperking (Portugal)"),
            speaker("Police commander, city-centre district (Belgium)",
                    "Commandant de police, division du centre-ville (Belgique)",
                    "Politiecommandant, afdeling binnenstad (België)"),
        ],
    },
    {
        "code": "TS09", "kind": "thematic", "theme": LIVING_TOGETHER, "slot": "C",
        "room": MAGRITTE, "capacity": 90, "language": "fr",
        "title": {
            "en": "Preventing violent radicalisation: the role of local actors",
            "fr": "Prévenir la radicalisation violente : le rôle des acteurs locaux",
            "nl": "Gewelddadige radicalisering voorkomen: de rol van lokale actoren",
        },
        "description": {
            "en": "Multi-agency case tables, family support and online radicalisation: what "
            "works at the level of a city.",
            "fr": "Cellules de sécurité intégrale locales, soutien aux familles et "
            "radicalisation en ligne : ce qui fonctionne à l'échelle d'une ville.",
            "nl": "Lokale integrale veiligheidscellen, gezinsondersteuning en online "
            "radicalisering: wat werkt op het niveau van een stad.",
        },
        "speakers": [
            speaker("Local radicalisation prevention officer (Belgium)",
                    "Fonctionnaire locale de prévention de la radicalisation (Belgique)",
                    "Lokale ambtenaar radicaliseringspreventie (België)"),
            speaker("Coordinator of a family support helpline (France)",
                    "Coordinateur d'une ligne d'écoute pour les familles (France)",
                    "Coördinator van een hulplijn voor families (Frankrijk)"),
            speaker("Researcher in extremism studies (Denmark)",
                    "Chercheuse spécialiste de l'extrémisme (Danemark)",
                    "Onderzoeker extremisme (Denemarken)"),
        ],
    },
    {
        "code": "TS10", "kind": "thematic", "theme": PUBLIC_SPACE, "slot": "C",
        "room": HERGE, "capacity": 100, "language": "en",
        "title": {
            "en": "Urban security technologies: effectiveness, ethics and citizens' rights",
            "fr": "Technologies de sécurité urbaine : efficacité, éthique et droits des citoyens",
            "nl": "Technologie voor stedelijke veiligheid: doeltreffendheid, ethiek en rechten "
            "van burgers",
        },
        "description": {
            "en": "Cameras, sensors and algorithms in the city: how to assess them, respect "
            "privacy and keep democratic control.",
            "fr": "Caméras, capteurs et algorithmes dans la ville : comment les évaluer, "
            "respecter la vie privée et garder un contrôle démocratique.",
            "nl": "Camera's, sensoren en algoritmen in de stad: hoe ze te evalueren, de "
            "privacy te respecteren en de democratische controle te bewaren.",
        },
        "speakers": [
            speaker("Data protection officer of a city (Germany)",
                    "Délégué à la protection des données d'une ville (Allemagne)",
                    "Functionaris voor gegevensbescherming van een stad (Duitsland)"),
            speaker("Head of innovation, municipal police (Italy)",
                    "Responsable de l'innovation, police municipale (Italie)",
                    "Hoofd innovatie, gemeentepolitie (Italië)"),
            speaker("Researcher in technology ethics (Netherlands)",
                    "Chercheuse en éthique des technologies (Pays-Bas)",
                    "Onderzoeker technologie-ethiek (Nederland)"),
        ],
    },
    {
        "code": "TS11", "kind": "thematic", "theme": PREVENTION, "slot": "C",
        "room": ENSOR, "capacity": 60, "language": "fr",
        "title": {
            "en": "Supporting victims of crime at local level",
            "fr": "Accompagner les victimes au niveau local",
            "nl": "Slachtofferhulp op lokaal niveau",
        },
        "description": {
            "en": "Reception, referral and long-term support of victims, including victims of "
            "domestic violence and of terrorist attacks.",
            "fr": "Accueil, orientation et accompagnement à long terme des victimes, y compris "
            "les victimes de violences conjugales et d'attentats terroristes.",
            "nl": "Onthaal, doorverwijzing en langdurige begeleiding van slachtoffers, ook van "
            "partnergeweld en terroristische aanslagen.",
        },
        "speakers": [
            speaker("Director of a victim support service (Belgium)",
                    "Directrice d'un service d'aide aux victimes (Belgique)",
                    "Directeur van een dienst slachtofferhulp (België)"),
            speaker("Deputy mayor for victims' rights (France)",
                    "Adjoint au maire chargé des droits des victimes (France)",
                    "Schepen voor slachtofferrechten (Frankrijk)"),
            speaker("Magistrate in charge of victims' assistance (Spain)",
                    "Magistrate chargée de l'aide aux victimes (Espagne)",
                    "Magistraat belast met slachtofferhulp (Spanje)"),
        ],
    },
    {
        "code": "PN2", "kind": "panel", "theme": POLICY, "slot": "D", "room": HORTA,
        "capacity": 150, "language": "en",
        "title": {
            "en": "The EU security strategy 2025-2029: what place for cities?",
            "fr": "La stratégie européenne de sécurité 2025-2029 : quelle place pour les villes ?",
            "nl": "De Europese veiligheidsstrategie 2025-2029: welke plaats voor de steden?",
        },
        "description": {
            "en": "How local authorities can shape and implement the next European security "
            "agenda, and what they expect from it.",
            "fr": "Comment les pouvoirs locaux peuvent façonner et mettre en œuvre le prochain "
            "agenda européen de sécurité, et ce qu'ils en attendent.",
            "nl": "Hoe lokale besturen de volgende Europese veiligheidsagenda mee kunnen vormen "
            "en uitvoeren, en wat ze ervan verwachten.",
        },
        "speakers": [
            speaker("Official, European Commission (Migration and Home Affairs)",
                    "Fonctionnaire, Commission européenne (migration et affaires intérieures)",
                    "Ambtenaar, Europese Commissie (Migratie en Binnenlandse Zaken)"),
            speaker("Member of the European Parliament (Civil Liberties Committee)",
                    "Membre du Parlement européen (commission des libertés civiles)",
                    "Lid van het Europees Parlement (Commissie burgerlijke vrijheden)"),
            speaker("Mayor, member of the Executive Committee",
                    "Bourgmestre, membre du comité exécutif",
                    "Burgemeester, lid van het uitvoerend comité", "Efus"),
        ],
    },
    {
        "code": "TS12", "kind": "thematic", "theme": MENTAL_HEALTH, "slot": "D",
        "room": MAGRITTE, "capacity": 80, "language": "fr",
        "title": {
            "en": "Homelessness, addiction and mental distress in stations and city centres",
            "fr": "Sans-abrisme, addictions et détresse psychique dans les gares et les "
            "centres-villes",
            "nl": "Dakloosheid, verslaving en psychische nood in stations en stadscentra",
        },
        "description": {
            "en": "Railway operators, social services and police share one space and one "
            "public: joint approaches that work.",
            "fr": "Opérateurs ferroviaires, services sociaux et police partagent un même "
            "espace et un même public : des approches communes qui fonctionnent.",
            "nl": "Spoorwegbedrijven, sociale diensten en politie delen één ruimte en één "
            "publiek: gezamenlijke aanpakken die werken.",
        },
        "speakers": [
            speaker("Social inclusion manager, national railway company (Belgium)",
                    "Responsable de l'inclusion sociale, société nationale des chemins de fer "
                    "(Belgique)",
                    "Verantwoordelijke sociale inclusie, nationale spoorwegmaatschappij "
                    "(België)"),
            speaker("Head of a homeless outreach service (France)",
                    "Responsable d'un service de maraude auprès des sans-abri (France)",
                    "Hoofd van een outreachdienst voor daklozen (Frankrijk)"),
            speaker("Municipal public-order officer (Netherlands)",
                    "Fonctionnaire municipal chargé de l'ordre public (Pays-Bas)",
                    "Gemeentelijk ambtenaar openbare orde (Nederland)"),
        ],
    },
    {
        "code": "TS13", "kind": "thematic", "theme": CRISES, "slot": "D", "room": HERGE,
        "capacity": 80, "language": "nl",
        "title": {
            "en": "Climate and health crises: the municipality in crisis management",
            "fr": "Crises climatiques et sanitaires : la commune face à la gestion de crise",
            "nl": "Klimaat- en gezondheidscrisissen: de gemeente in het crisisbeheer",
        },
        "description": {
            "en": "Heatwaves, floods and epidemics: planning, warning and caring for the most "
            "vulnerable residents.",
            "fr": "Canicules, inondations et épidémies : planifier, alerter et prendre soin des "
            "habitants les plus vulnérables.",
            "nl": "Hittegolven, overstromingen en epidemieën: plannen, waarschuwen en zorgen "
            "voor de kwetsbaarste inwoners.",
        },
        "speakers": [
            speaker("Emergency planning coordinator of a province (Belgium)",
                    "Coordinateur planification d'urgence d'une province (Belgique)",
                    "Noodplanningscoördinator van een provincie (België)"),
            speaker("Public health director of a city (Germany)",
                    "Directrice de la santé publique d'une ville (Allemagne)",
                    "Directeur volksgezondheid van een stad (Duitsland)"),
            speaker("Climate adaptation officer (Greece)",
                    "Chargé de l'adaptation au changement climatique (Grèce)",
                    "Ambtenaar klimaatadaptatie (Griekenland)"),
        ],
    },
    {
        "code": "TS14", "kind": "thematic", "theme": TRUST, "slot": "D", "room": ENSOR,
        "capacity": 90, "language": "fr",
        "title": {
            "en": "Police and residents: building trust in neighbourhoods",
            "fr": "Police et population : construire la confiance dans les quartiers",
            "nl": "Politie en bewoners: vertrouwen opbouwen in de wijken",
        },
        "description": {
            "en": "Community policing, complaints procedures and the fight against "
            "discriminatory stops.",
            "fr": "Police de proximité, procédures de plainte et lutte contre les contrôles "
            "discriminatoires.",
            "nl": "Gemeenschapsgerichte politiezorg, klachtenprocedures en de strijd tegen "
            "etnisch profileren.",
        },
        "speakers": [
            speaker("Chief of a local police zone (Belgium)",
                    "Chef de corps d'une zone de police locale (Belgique)",
                    "Korpschef van een lokale politiezone (België)"),
            speaker("Municipal ombudsperson (Sweden)", "Médiatrice municipale (Suède)",
                    "Gemeentelijke ombudsvrouw (Zweden)"),
            speaker("Youth association coordinator (France)",
                    "Coordinateur d'une association de jeunesse (France)",
                    "Coördinator van een jeugdvereniging (Frankrijk)"),
        ],
    },
    {
        "code": "TS15", "kind": "thematic", "theme": DRUGS, "slot": "E", "room": HORTA,
        "capacity": 120, "language": "nl",
        "title": {
            "en": "The administrative approach: keeping organised crime out of the legal "
            "economy",
            "fr": "L'approche administrative : tenir la criminalité organisée à l'écart de "
            "l'économie légale",
            "nl": "De bestuurlijke aanpak: georganiseerde misdaad uit de legale economie weren",
        },
        "description": {
            "en": "Permits, inspections and information sharing that let mayors close the "
            "doors criminal networks use.",
            "fr": "Permis, inspections et partage d'informations qui permettent aux "
            "bourgmestres de fermer les portes qu'empruntent les réseaux criminels.",
            "nl": "Vergunningen, inspecties en informatiedeling waarmee burgemeesters de deuren "
            "sluiten die criminele netwerken gebruiken.",
        },
        "speakers": [
            speaker("Regional information and expertise centre manager (Netherlands)",
                    "Responsable d'un centre régional d'information et d'expertise (Pays-Bas)",
                    "Manager van een Regionaal Informatie- en Expertisecentrum (Nederland)"),
            speaker("Administrative approach coordinator of a city (Belgium)",
                    "Coordinatrice de l'approche administrative d'une ville (Belgique)",
                    "Coördinator bestuurlijke aanpak van een stad (België)"),
            speaker("Anti-mafia prosecutor (Italy)", "Procureur antimafia (Italie)",
                    "Antimaffiaofficier van justitie (Italië)"),
        ],
    },
    {
        "code": "TS16", "kind": "thematic", "theme": NIGHT, "slot": "E",
        "room": MAGRITTE, "capacity": 90, "language": "en",
        "title": {
            "en": "Safer nightlife: harm reduction, sexual harassment and festive venues",
            "fr": "Une vie nocturne plus sûre : réduction des risques, harcèlement sexuel et "
            "lieux festifs",
            "nl": "Veiliger uitgaan: schadebeperking, seksuele intimidatie en uitgaansplekken",
        },
        "description": {
            "en": "Training bar staff, festival charters and safe-space schemes to prevent "
            "sexual violence and drug-related harm at night.",
            "fr": "Former le personnel des bars, chartes de festivals et dispositifs "
            "d'espaces sûrs pour prévenir les violences sexuelles et les risques liés aux "
            "drogues la nuit.",
            "nl": "Barpersoneel opleiden, festivalcharters en safe-spaceprojecten om seksueel "
            "geweld en drugsgerelateerde schade 's nachts te voorkomen.",
        },
        "speakers": [
            speaker("Nightlife harm-reduction coordinator (Belgium)",
                    "Coordinatrice de la réduction des risques en milieu festif (Belgique)",
                    "Coördinator schadebeperking in het uitgaansleven (België)"),
            speaker("Club owners' association representative (Germany)",
                    "Représentant d'une association d'exploitants de clubs (Allemagne)",
                    "Vertegenwoordiger van een vereniging van clubuitbaters (Duitsland)"),
            speaker("Municipal equality officer (Spain)",
                    "Chargée de l'égalité d'une commune (Espagne)",
                    "Gelijkekansenambtenaar van een gemeente (Spanje)"),
        ],
    },
    {
        "code": "PN3", "kind": "panel", "theme": TRUST, "slot": "E", "room": HERGE,
        "capacity": 120, "language": "fr",
        "title": {
            "en": "Polarisation, disinformation and threats against local elected officials",
            "fr": "Polarisation, désinformation et menaces contre les élus locaux",
            "nl": "Polarisatie, desinformatie en bedreigingen tegen lokale mandatarissen",
        },
        "description": {
            "en": "How mayors and councillors protect themselves and local democracy from "
            "harassment, intimidation and disinformation campaigns.",
            "fr": "Comment bourgmestres et conseillers se protègent, et protègent la démocratie "
            "locale, du harcèlement, de l'intimidation et des campagnes de désinformation.",
            "nl": "Hoe burgemeesters en gemeenteraadsleden zichzelf en de lokale democratie "
            "beschermen tegen intimidatie, bedreigingen en desinformatiecampagnes.",
        },
        "speakers": [
            speaker("Mayor of a small town (France)", "Maire d'une petite commune (France)",
                    "Burgemeester van een kleine gemeente (Frankrijk)"),
            speaker("Alderman for security (Netherlands)", "Échevin de la sécurité (Pays-Bas)",
                    "Wethouder veiligheid (Nederland)"),
            speaker("Researcher in disinformation studies (Belgium)",
                    "Chercheuse spécialiste de la désinformation (Belgique)",
                    "Onderzoeker desinformatie (België)"),
        ],
    },
    {
        "code": "TS17", "kind": "thematic", "theme": PUBLIC_SPACE, "slot": "E",
        "room": ENSOR, "capacity": 70, "language": "fr",
        "title": {
            "en": "Mediation schemes and the shared management of public space",
            "fr": "Dispositifs de médiation et gestion partagée de l'espace public",
            "nl": "Bemiddelingsprojecten en gedeeld beheer van de openbare ruimte",
        },
        "description": {
            "en": "Social mediators, park wardens and residents: preventing conflicts in "
            "squares, parks and transport hubs.",
            "fr": "Médiateurs sociaux, gardiens de parc et habitants : prévenir les conflits "
            "sur les places, dans les parcs et les pôles de transport.",
            "nl": "Sociale bemiddelaars, parkwachters en bewoners: conflicten voorkomen op "
            "pleinen, in parken en aan vervoersknooppunten.",
        },
        "speakers": [
            speaker("Head of a municipal mediation service (France)",
                    "Responsable d'un service municipal de médiation (France)",
                    "Hoofd van een gemeentelijke bemiddelingsdienst (Frankrijk)"),
            speaker("Coordinator of city wardens (Belgium)",
                    "Coordinatrice des gardiens de la paix (Belgique)",
                    "Coördinator gemeenschapswachten (België)"),
            speaker("Public transport safety manager (Poland)",
                    "Responsable de la sécurité des transports publics (Pologne)",
                    "Veiligheidsverantwoordelijke openbaar vervoer (Polen)"),
        ],
    },
    {
        "code": "TS18", "kind": "thematic", "theme": PREVENTION, "slot": "F",
        "room": HORTA, "capacity": 100, "language": "fr",
        "title": {
            "en": "Preventing the recruitment of young people into drug trafficking",
            "fr": "Prévenir l'enrôlement des jeunes dans les trafics de drogue",
            "nl": "Voorkomen dat jongeren in de drugshandel terechtkomen",
        },
        "description": {
            "en": "Early warning signs, exit programmes and support for families of minors "
            "exploited by trafficking networks.",
            "fr": "Signaux d'alerte précoces, programmes de sortie et soutien aux familles de "
            "mineurs exploités par les réseaux de trafic.",
            "nl": "Vroege signalen, uitstapprogramma's en steun voor gezinnen van minderjarigen "
            "die door drugsnetwerken worden uitgebuit.",
        },
        "speakers": [
            speaker("Youth judge (France)", "Juge des enfants (France)",
                    "Jeugdrechter (Frankrijk)"),
            speaker("Prevention officer of a port city (Netherlands)",
                    "Chargé de prévention d'une ville portuaire (Pays-Bas)",
                    "Preventiewerker van een havenstad (Nederland)"),
            speaker("Social worker, youth exit programme (Sweden)",
                    "Travailleuse sociale, programme de sortie pour les jeunes (Suède)",
                    "Maatschappelijk werker, uitstapprogramma voor jongeren (Zweden)"),
        ],
    },
    {
        "code": "TS19", "kind": "thematic", "theme": LIVING_TOGETHER, "slot": "F",
        "room": MAGRITTE, "capacity": 80, "language": "en",
        "title": {
            "en": "Hate crime and discrimination: local strategies",
            "fr": "Crimes de haine et discriminations : stratégies locales",
            "nl": "Haatmisdrijven en discriminatie: lokale strategieën",
        },
        "description": {
            "en": "Reporting, recording and responding to hate crime, with the communities "
            "affected.",
            "fr": "Signaler, enregistrer et répondre aux crimes de haine, avec les communautés "
            "concernées.",
            "nl": "Haatmisdrijven melden, registreren en aanpakken, samen met de betrokken "
            "gemeenschappen.",
        },
        "speakers": [
            speaker("Hate crime coordinator of a police force (United Kingdom)",
                    "Coordinateur de la lutte contre les crimes de haine d'un corps de police "
                    "(Royaume-Uni)",
                    "Coördinator haatmisdrijven van een politiekorps (Verenigd Koninkrijk)"),
            speaker("Anti-discrimination officer of a city (Belgium)",
                    "Chargée de la lutte contre les discriminations d'une ville (Belgique)",
                    "Antidiscriminatieambtenaar van een stad (België)"),
            speaker("Representative of a civil-society monitoring network (Hungary)",
                    "Représentant d'un réseau de veille de la société civile (Hongrie)",
                    "Vertegenwoordiger van een monitoringnetwerk van het middenveld "
                    "(Hongarije)"),
        ],
    },
    {
        "code": "TS20", "kind": "thematic", "theme": CRISES, "slot": "F", "room": HERGE,
        "capacity": 70, "language": "nl",
        "title": {
            "en": "Involving residents in local crisis preparedness",
            "fr": "Associer les habitants à la préparation aux crises",
            "nl": "Inwoners betrekken bij de voorbereiding op crisissen",
        },
        "description": {
            "en": "Volunteer networks, neighbourhood plans and risk communication that make a "
            "community ready before the crisis.",
            "fr": "Réseaux de bénévoles, plans de quartier et communication sur les risques "
            "qui préparent une communauté avant la crise.",
            "nl": "Vrijwilligersnetwerken, buurtplannen en risicocommunicatie die een "
            "gemeenschap voorbereiden vóór de crisis.",
        },
        "speakers": [
            speaker("Civil protection volunteer coordinator (Finland)",
                    "Coordinatrice des bénévoles de la protection civile (Finlande)",
                    "Coördinator vrijwilligers civiele bescherming (Finland)"),
            speaker("Risk communication officer of a region (Belgium)",
                    "Chargé de communication sur les risques d'une région (Belgique)",
                    "Ambtenaar risicocommunicatie van een gewest (België)"),
            speaker("Researcher in community resilience (Netherlands)",
                    "Chercheuse en résilience des communautés (Pays-Bas)",
                    "Onderzoeker veerkracht van gemeenschappen (Nederland)"),
        ],
    },
    {
        "code": "PN4", "kind": "panel", "theme": POLICY, "slot": "F", "room": ENSOR,
        "capacity": 100, "language": "fr",
        "title": {
            "en": "From discussions to policy recommendations: the cities' manifesto",
            "fr": "Des échanges aux recommandations : le manifeste des villes",
            "nl": "Van uitwisseling naar beleidsaanbevelingen: het manifest van de steden",
        },
        "description": {
            "en": "Session rapporteurs present the emerging recommendations; participants "
            "amend and endorse them.",
            "fr": "Les rapporteurs des sessions présentent les recommandations qui se "
            "dégagent ; les participants les amendent et les approuvent.",
            "nl": "De rapporteurs van de sessies stellen de aanbevelingen voor die naar voren "
            "komen; de deelnemers amenderen en onderschrijven ze.",
        },
        "speakers": [
            speaker("Executive director", "Directrice exécutive", "Uitvoerend directeur",
                    "Efus"),
            speaker("Session rapporteurs", "Rapporteurs des sessions",
                    "Rapporteurs van de sessies"),
            speaker("Deputy mayor for prevention and security (Belgium)",
                    "Échevine de la prévention et de la sécurité (Belgique)",
                    "Schepen van preventie en veiligheid (België)"),
        ],
    },
    {
        "code": "FV1", "kind": "field_visit", "theme": DRUGS, "slot": "visits",
        "room": DEPARTURE, "capacity": 12, "language": "fr",
        "title": {
            "en": "Field visit: a supervised drug consumption room",
            "fr": "Visite de terrain : une salle de consommation à moindre risque",
            "nl": "Terreinbezoek: een gebruiksruimte voor drugs",
        },
        "description": {
            "en": "Meet the harm-reduction team of a supervised consumption room and its "
            "neighbourhood partners.",
            "fr": "Rencontre avec l'équipe de réduction des risques d'une salle de "
            "consommation à moindre risque et ses partenaires de quartier.",
            "nl": "Ontmoeting met het team schadebeperking van een gebruiksruimte en zijn "
            "partners in de wijk.",
        },
        "speakers": [
            speaker("Harm-reduction team coordinator",
                    "Coordinatrice de l'équipe de réduction des risques",
                    "Coördinator van het team schadebeperking"),
        ],
    },
    {
        "code": "FV2", "kind": "field_visit", "theme": CRISES, "slot": "visits",
        "room": DEPARTURE, "capacity": 20, "language": "nl",
        "title": {
            "en": "Field visit: the Regional Crisis Centre",
            "fr": "Visite de terrain : le Centre régional de crise",
            "nl": "Terreinbezoek: het Gewestelijk Crisiscentrum",
        },
        "description": {
            "en": "How the Brussels-Capital Region coordinates emergency services and "
            "municipalities during a crisis.",
            "fr": "Comment la Région de Bruxelles-Capitale coordonne services de secours et "
            "communes pendant une crise.",
            "nl": "Hoe het Brussels Hoofdstedelijk Gewest hulpdiensten en gemeenten "
            "coördineert tijdens een crisis.",
        },
        "speakers": [
            speaker("Crisis centre duty officer", "Officier de permanence du centre de crise",
                    "Permanentieofficier van het crisiscentrum", "safe.brussels"),
        ],
    },
    {
        "code": "FV3", "kind": "field_visit", "theme": PUBLIC_SPACE, "slot": "visits",
        "room": DEPARTURE, "capacity": 15, "language": "en",
        "title": {
            "en": "Field visit: security technologies in the region",
            "fr": "Visite de terrain : les technologies de sécurité dans la région",
            "nl": "Terreinbezoek: veiligheidstechnologie in het gewest",
        },
        "description": {
            "en": "The regional video-protection and dispatch platform, and the rules that "
            "govern its use.",
            "fr": "La plateforme régionale de vidéoprotection et de dispatching, et les règles "
            "qui encadrent son usage.",
            "nl": "Het gewestelijk platform voor cameratoezicht en dispatching, en de regels "
            "voor het gebruik ervan.",
        },
        "speakers": [
            speaker("Technology and innovation officer",
                    "Chargée des technologies et de l'innovation",
                    "Verantwoordelijke technologie en innovatie", "safe.brussels"),
        ],
    },
    {
        "code": "FV4", "kind": "field_visit", "theme": PUBLIC_SPACE, "slot": "visits",
        "room": DEPARTURE, "capacity": 25, "language": "fr",
        "title": {
            "en": "Field visit: managing public space in a city-centre district",
            "fr": "Visite de terrain : la gestion de l'espace public dans un quartier du "
            "centre-ville",
            "nl": "Terreinbezoek: beheer van de openbare ruimte in een binnenstadswijk",
        },
        "description": {
            "en": "A walk with the municipal services, wardens and residents who keep a busy "
            "district clean, safe and shared.",
            "fr": "Une promenade avec les services communaux, les gardiens de la paix et les "
            "habitants qui gardent un quartier animé propre, sûr et partagé.",
            "nl": "Een wandeling met de gemeentediensten, gemeenschapswachten en bewoners die "
            "een drukke wijk net, veilig en gedeeld houden.",
        },
        "speakers": [
            speaker("Public-space manager of a Brussels municipality",
                    "Gestionnaire de l'espace public d'une commune bruxelloise",
                    "Beheerder openbare ruimte van een Brusselse gemeente"),
        ],
    },
    {
        "code": "FV5", "kind": "field_visit", "theme": LIVING_TOGETHER, "slot": "visits",
        "room": DEPARTURE, "capacity": 20, "language": "nl",
        "title": {
            "en": "Field visit: night-time and neighbourhood mediation schemes",
            "fr": "Visite de terrain : médiation de nuit et médiation de quartier",
            "nl": "Terreinbezoek: nacht- en buurtbemiddeling",
        },
        "description": {
            "en": "Meet the mediators who settle neighbourhood disputes and night-time "
            "nuisance before they escalate.",
            "fr": "Rencontre avec les médiateurs qui règlent les conflits de voisinage et les "
            "nuisances nocturnes avant qu'ils ne dégénèrent.",
            "nl": "Ontmoeting met de bemiddelaars die burenruzies en nachtelijke overlast "
            "oplossen voor ze escaleren.",
        },
        "speakers": [
            speaker("Coordinator of a local mediation service",
                    "Coordinateur d'un service local de médiation",
                    "Coördinator van een lokale bemiddelingsdienst"),
        ],
    },
    {
        "code": "PL2", "kind": "plenary", "theme": POLICY, "slot": "closing", "room": HALL,
        "capacity": None, "language": "en",
        "title": {
            "en": "Closing plenary: recommendations for the European security strategy",
            "fr": "Plénière de clôture : recommandations pour la stratégie européenne de "
            "sécurité",
            "nl": "Slotplenaire: aanbevelingen voor de Europese veiligheidsstrategie",
        },
        "description": {
            "en": "The conference's recommendations, to be submitted to national governments "
            "and EU decision makers.",
            "fr": "Les recommandations de la conférence, qui seront transmises aux "
            "gouvernements nationaux et aux décideurs européens.",
            "nl": "De aanbevelingen van de conferentie, die aan de nationale regeringen en de "
            "Europese beleidsmakers worden voorgelegd.",
        },
        "speakers": [
            speaker("Executive director", "Directrice exécutive", "Uitvoerend directeur",
                    "Efus"),
            speaker("Director-General", "Directeur général", "Directeur-generaal",
                    "safe.brussels"),
            speaker("Official, European Commission (Migration and Home Affairs)",
                    "Fonctionnaire, Commission européenne (migration et affaires intérieures)",
                    "Ambtenaar, Europese Commissie (Migratie en Binnenlandse Zaken)"),
        ],
    },
]  # fmt: skip


def first_day(now: datetime) -> date:
    """The first Wednesday at least LEAD_DAYS days after today (in Brussels)."""
    earliest = now.astimezone(TIMEZONE).date() + timedelta(days=LEAD_DAYS)
    return earliest + timedelta(days=(WEDNESDAY - earliest.weekday()) % 7)


def at(day: date, clock: str) -> datetime:
    """A Brussels wall-clock time on `day`, as an aware UTC datetime."""
    local = datetime.combine(day, time.fromisoformat(clock), tzinfo=TIMEZONE)
    return local.astimezone(UTC)


def session_data(start: date, row: dict[str, Any]) -> dict[str, Any]:
    day, begins, ends = SLOTS[row["slot"]]
    data = {k: v for k, v in row.items() if k not in ("slot", "title", "description")}
    if row["kind"] == "field_visit":
        data["hold_minutes"] = FIELD_VISIT_HOLD_MINUTES
    when = start + timedelta(days=day)
    data.update(
        title=row["title"]["en"],
        title_translations=row["title"],
        description=row["description"]["en"],
        description_translations=row["description"],
        theme_translations={**THEMES[row["theme"]], "en": row["theme"]},
        room_translations={**ROOMS[row["room"]], "en": row["room"]},
        starts_at=at(when, begins),
        ends_at=at(when, ends),
    )
    return data


def load_sample_programme(session: Session, now: datetime | None = None) -> bool:
    """Create the sample event and its sessions; False if the slug is taken already."""
    if session.scalar(select(Event.id).where(Event.slug == SLUG)) is not None:
        return False
    now = now or datetime.now(UTC)
    start = first_day(now)
    event = create_event(
        session,
        {
            **EVENT,
            "starts_on": start,
            "ends_on": start + timedelta(days=2),
            "registration_opens_at": now - timedelta(days=1),
            "registration_closes_at": at(start - timedelta(days=2), "00:00"),
        },
    )
    for row in SESSIONS:
        create_session(session, event, session_data(start, row))
    return True
