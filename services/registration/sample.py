"""The sample programme: the 8th "Security, Democracy & Cities" conference (Brussels).

The real edition ran from 20 to 22 March 2024. The sample keeps its structure and
themes but is dated in the future, so registration is open whenever someone runs
`make run`: it starts on the first Wednesday at least 60 days from today.
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

EVENT = {
    "slug": SLUG,
    "title": "Security, Democracy & Cities",
    "title_translations": {
        "fr": "Sécurité, démocratie et villes",
        "nl": "Veiligheid, democratie en steden",
        "en": "Security, Democracy & Cities",
    },
    "city": "Brussels",
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

HALL = "Plenary hall"
DEPARTURE = "Departure: main entrance"

SESSIONS: list[dict[str, Any]] = [
    {
        "code": "PL1", "kind": "plenary", "theme": POLICY, "slot": "opening", "room": HALL,
        "capacity": None, "language": "fr",
        "title": {
            "en": "Opening plenary: cities where everyone feels free and safe",
            "fr": "Plénière d'ouverture : des villes où chacun se sent libre et en sécurité",
            "nl": "Openingsplenaire: steden waar iedereen zich vrij en veilig voelt",
        },
        "description": "Why cities hold the key to security and democracy in Europe, and what "
        "this conference will deliver: recommendations for the EU security strategy.",
        "speakers": [
            "President of Efus, mayor of a member city",
            "Minister-President of the Brussels-Capital Region",
            "Director-General, safe.brussels",
            "Representative of the Belgian federal government",
        ],
    },
    {
        "code": "TS01", "kind": "thematic", "theme": DRUGS, "slot": "A", "room": "Room Horta",
        "capacity": 150, "language": "fr",
        "title": {
            "en": "Organised crime and drug trafficking: a threat to the democratic rule of law",
            "fr": "Criminalité organisée et trafic de drogues : une menace pour l'État de droit "
            "démocratique",
            "nl": "Georganiseerde misdaad en drugshandel: een bedreiging voor de democratische "
            "rechtsstaat",
        },
        "description": "Violence, corruption and intimidation linked to drug markets: how "
        "cities, prosecutors and national authorities can act together.",
        "speakers": [
            "National drugs commissioner (Belgium)",
            "Public prosecutor specialised in organised crime (Netherlands)",
            "Mayor of a port city (Belgium)",
        ],
    },
    {
        "code": "TS02", "kind": "thematic", "theme": MENTAL_HEALTH, "slot": "A",
        "room": "Room Magritte", "capacity": 100, "language": "en",
        "title": {
            "en": "Mental health in public spaces: police, municipal services and social "
            "workers working across silos",
            "fr": "Santé mentale dans l'espace public : police, services municipaux et "
            "travailleurs sociaux au-delà des cloisonnements",
            "nl": "Geestelijke gezondheid in de openbare ruimte: politie, gemeentediensten en "
            "hulpverleners werken over de schotten heen",
        },
        "description": "Supporting vulnerable people in the street without criminalising them: "
        "joint teams, shared protocols and training.",
        "speakers": [
            "Head of a municipal mental-health outreach team (Spain)",
            "Police superintendent, community policing unit (Belgium)",
            "Psychiatrist, mobile crisis team (Germany)",
        ],
    },
    {
        "code": "PN1", "kind": "panel", "theme": NIGHT, "slot": "A", "room": "Room Hergé",
        "capacity": 120, "language": "en",
        "title": {
            "en": "Governing the night: Paris, Bologna, Budapest and Brussels compare notes",
            "fr": "Gouverner la nuit : Paris, Bologne, Budapest et Bruxelles croisent leurs "
            "regards",
            "nl": "Het nachtleven besturen: Parijs, Bologna, Boedapest en Brussel vergelijken "
            "hun aanpak",
        },
        "description": "Night mayors, night councils and charters: four capitals and cities "
        "on balancing a lively night-time economy, residents' rest and safety.",
        "speakers": [
            "Deputy mayor for night-time economy, Paris",
            "City councillor for security and urban policies, Bologna",
            "Night-time economy coordinator, Budapest",
            "Night council representative, Brussels-Capital Region",
        ],
    },
    {
        "code": "TS03", "kind": "thematic", "theme": CRISES, "slot": "A", "room": "Room Ensor",
        "capacity": 80, "language": "fr",
        "title": {
            "en": "Responding locally to multiplying crises",
            "fr": "Répondre localement à la multiplication des crises",
            "nl": "Lokaal antwoorden op een opeenstapeling van crisissen",
        },
        "description": "Pandemics, floods, energy and migration crises: what local "
        "authorities learned and how they prepare for the next one.",
        "speakers": [
            "Emergency planning officer of a Belgian municipality",
            "Deputy mayor for civil protection (France)",
            "Researcher in crisis management (Italy)",
        ],
    },
    {
        "code": "TS04", "kind": "thematic", "theme": TRUST, "slot": "B", "room": "Room Horta",
        "capacity": 150, "language": "en",
        "title": {
            "en": "How to strengthen citizens' trust in institutions",
            "fr": "Comment renforcer la confiance des citoyens dans les institutions",
            "nl": "Hoe versterken we het vertrouwen van burgers in de instellingen?",
        },
        "description": "Participation, transparency and accountability of local security "
        "policies as levers of trust.",
        "speakers": [
            "Mayor of a medium-sized city (Portugal)",
            "Researcher in political science (Belgium)",
            "Citizens' panel facilitator (Ireland)",
        ],
    },
    {
        "code": "TS05", "kind": "thematic", "theme": LIVING_TOGETHER, "slot": "B",
        "room": "Room Magritte", "capacity": 100, "language": "fr",
        "title": {
            "en": "Living together in diverse cities: reducing polarisation",
            "fr": "Mieux vivre ensemble dans des villes plurielles : réduire la polarisation",
            "nl": "Samenleven in diverse steden: polarisatie tegengaan",
        },
        "description": "Local dialogue, neighbourhood projects and communication strategies "
        "that bring residents together rather than apart.",
        "speakers": [
            "Head of social cohesion of a Flemish city (Belgium)",
            "Community worker, intercultural centre (France)",
            "Researcher in social psychology (Netherlands)",
        ],
    },
    {
        "code": "TS06", "kind": "thematic", "theme": PUBLIC_SPACE, "slot": "B",
        "room": "Room Hergé", "capacity": 90, "language": "fr",
        "title": {
            "en": "Women's safety in public space: from exploratory walks to urban design",
            "fr": "La sécurité des femmes dans l'espace public : des marches exploratoires à "
            "l'aménagement urbain",
            "nl": "Veiligheid van vrouwen in de openbare ruimte: van verkenningswandelingen tot "
            "stedelijk ontwerp",
        },
        "description": "Street harassment, lighting, transport and design: cities that plan "
        "public space with the women who use it.",
        "speakers": [
            "Gender equality officer of a capital city (Spain)",
            "Urban planner specialised in gender-sensitive design (Austria)",
            "Representative of a women's rights association (Belgium)",
        ],
    },
    {
        "code": "TS07", "kind": "thematic", "theme": PREVENTION, "slot": "B",
        "room": "Room Ensor", "capacity": 70, "language": "nl",
        "title": {
            "en": "Youth and prevention: reaching young people at risk",
            "fr": "Jeunesse et prévention : aller vers les jeunes en situation de risque",
            "nl": "Jongeren en preventie: jongeren in een risicosituatie bereiken",
        },
        "description": "Street work, schools and sport: outreach that keeps young people away "
        "from crime and builds their prospects.",
        "speakers": [
            "Street worker coordinator (Belgium)",
            "Youth prevention officer of a municipality (Netherlands)",
            "Sports club director running an inclusion programme (Luxembourg)",
        ],
    },
    {
        "code": "TS08", "kind": "thematic", "theme": DRUGS, "slot": "C", "room": "Room Horta",
        "capacity": 120, "language": "en",
        "title": {
            "en": "Local responses to drug markets and open drug scenes",
            "fr": "Réponses locales aux marchés de la drogue et aux scènes ouvertes",
            "nl": "Lokale antwoorden op drugsmarkten en open drugsscènes",
        },
        "description": "Harm reduction, policing and urban renewal around open drug scenes, "
        "with the people who use drugs and the residents who live nearby.",
        "speakers": [
            "Drug policy coordinator of a large city (Switzerland)",
            "Head of a harm-reduction service (Portugal)",
            "Police commander, city-centre district (Belgium)",
        ],
    },
    {
        "code": "TS09", "kind": "thematic", "theme": LIVING_TOGETHER, "slot": "C",
        "room": "Room Magritte", "capacity": 90, "language": "fr",
        "title": {
            "en": "Preventing violent radicalisation: the role of local actors",
            "fr": "Prévenir la radicalisation violente : le rôle des acteurs locaux",
            "nl": "Gewelddadige radicalisering voorkomen: de rol van lokale actoren",
        },
        "description": "Multi-agency case tables, family support and online radicalisation: "
        "what works at the level of a city.",
        "speakers": [
            "Local radicalisation prevention officer (Belgium)",
            "Coordinator of a family support helpline (France)",
            "Researcher in extremism studies (Denmark)",
        ],
    },
    {
        "code": "TS10", "kind": "thematic", "theme": PUBLIC_SPACE, "slot": "C",
        "room": "Room Hergé", "capacity": 100, "language": "en",
        "title": {
            "en": "Urban security technologies: effectiveness, ethics and citizens' rights",
            "fr": "Technologies de sécurité urbaine : efficacité, éthique et droits des citoyens",
            "nl": "Technologie voor stedelijke veiligheid: doeltreffendheid, ethiek en rechten "
            "van burgers",
        },
        "description": "Cameras, sensors and algorithms in the city: how to assess them, "
        "respect privacy and keep democratic control.",
        "speakers": [
            "Data protection officer of a city (Germany)",
            "Head of innovation, municipal police (Italy)",
            "Researcher in technology ethics (Netherlands)",
        ],
    },
    {
        "code": "TS11", "kind": "thematic", "theme": PREVENTION, "slot": "C",
        "room": "Room Ensor", "capacity": 60, "language": "fr",
        "title": {
            "en": "Supporting victims of crime at local level",
            "fr": "Accompagner les victimes au niveau local",
            "nl": "Slachtofferhulp op lokaal niveau",
        },
        "description": "Reception, referral and long-term support of victims, including "
        "victims of domestic violence and of terrorist attacks.",
        "speakers": [
            "Director of a victim support service (Belgium)",
            "Deputy mayor for victims' rights (France)",
            "Magistrate in charge of victims' assistance (Spain)",
        ],
    },
    {
        "code": "PN2", "kind": "panel", "theme": POLICY, "slot": "D", "room": "Room Horta",
        "capacity": 150, "language": "en",
        "title": {
            "en": "The EU security strategy 2025-2029: what place for cities?",
            "fr": "La stratégie européenne de sécurité 2025-2029 : quelle place pour les villes ?",
            "nl": "De Europese veiligheidsstrategie 2025-2029: welke plaats voor de steden?",
        },
        "description": "How local authorities can shape and implement the next European "
        "security agenda, and what they expect from it.",
        "speakers": [
            "Official, European Commission (Migration and Home Affairs)",
            "Member of the European Parliament (Civil Liberties Committee)",
            "Mayor, member of the Efus Executive Committee",
        ],
    },
    {
        "code": "TS12", "kind": "thematic", "theme": MENTAL_HEALTH, "slot": "D",
        "room": "Room Magritte", "capacity": 80, "language": "fr",
        "title": {
            "en": "Homelessness, addiction and mental distress in stations and city centres",
            "fr": "Sans-abrisme, addictions et détresse psychique dans les gares et les "
            "centres-villes",
            "nl": "Dakloosheid, verslaving en psychische nood in stations en stadscentra",
        },
        "description": "Railway operators, social services and police share one space and "
        "one public: joint approaches that work.",
        "speakers": [
            "Social inclusion manager, national railway company (Belgium)",
            "Head of a homeless outreach service (France)",
            "Municipal public-order officer (Netherlands)",
        ],
    },
    {
        "code": "TS13", "kind": "thematic", "theme": CRISES, "slot": "D", "room": "Room Hergé",
        "capacity": 80, "language": "nl",
        "title": {
            "en": "Climate and health crises: the municipality in crisis management",
            "fr": "Crises climatiques et sanitaires : la commune face à la gestion de crise",
            "nl": "Klimaat- en gezondheidscrisissen: de gemeente in het crisisbeheer",
        },
        "description": "Heatwaves, floods and epidemics: planning, warning and caring for the "
        "most vulnerable residents.",
        "speakers": [
            "Emergency planning coordinator of a province (Belgium)",
            "Public health director of a city (Germany)",
            "Climate adaptation officer (Greece)",
        ],
    },
    {
        "code": "TS14", "kind": "thematic", "theme": TRUST, "slot": "D", "room": "Room Ensor",
        "capacity": 90, "language": "fr",
        "title": {
            "en": "Police and residents: building trust in neighbourhoods",
            "fr": "Police et population : construire la confiance dans les quartiers",
            "nl": "Politie en bewoners: vertrouwen opbouwen in de wijken",
        },
        "description": "Community policing, complaints procedures and the fight against "
        "discriminatory stops.",
        "speakers": [
            "Chief of a local police zone (Belgium)",
            "Municipal ombudsperson (Sweden)",
            "Youth association coordinator (France)",
        ],
    },
    {
        "code": "TS15", "kind": "thematic", "theme": DRUGS, "slot": "E", "room": "Room Horta",
        "capacity": 120, "language": "nl",
        "title": {
            "en": "The administrative approach: keeping organised crime out of the legal "
            "economy",
            "fr": "L'approche administrative : tenir la criminalité organisée à l'écart de "
            "l'économie légale",
            "nl": "De bestuurlijke aanpak: georganiseerde misdaad uit de legale economie weren",
        },
        "description": "Permits, inspections and information sharing that let mayors close "
        "the doors criminal networks use.",
        "speakers": [
            "Regional information and expertise centre manager (Netherlands)",
            "Administrative approach coordinator of a city (Belgium)",
            "Anti-mafia prosecutor (Italy)",
        ],
    },
    {
        "code": "TS16", "kind": "thematic", "theme": NIGHT, "slot": "E",
        "room": "Room Magritte", "capacity": 90, "language": "en",
        "title": {
            "en": "Safer nightlife: harm reduction, sexual harassment and festive venues",
            "fr": "Une vie nocturne plus sûre : réduction des risques, harcèlement sexuel et "
            "lieux festifs",
            "nl": "Veiliger uitgaan: schadebeperking, seksuele intimidatie en uitgaansplekken",
        },
        "description": "Training bar staff, festival charters and safe-space schemes to "
        "prevent sexual violence and drug-related harm at night.",
        "speakers": [
            "Nightlife harm-reduction coordinator (Belgium)",
            "Club owners' association representative (Germany)",
            "Municipal equality officer (Spain)",
        ],
    },
    {
        "code": "PN3", "kind": "panel", "theme": TRUST, "slot": "E", "room": "Room Hergé",
        "capacity": 120, "language": "fr",
        "title": {
            "en": "Polarisation, disinformation and threats against local elected officials",
            "fr": "Polarisation, désinformation et menaces contre les élus locaux",
            "nl": "Polarisatie, desinformatie en bedreigingen tegen lokale mandatarissen",
        },
        "description": "How mayors and councillors protect themselves and local democracy "
        "from harassment, intimidation and disinformation campaigns.",
        "speakers": [
            "Mayor of a small town (France)",
            "Alderman for security (Netherlands)",
            "Researcher in disinformation studies (Belgium)",
        ],
    },
    {
        "code": "TS17", "kind": "thematic", "theme": PUBLIC_SPACE, "slot": "E",
        "room": "Room Ensor", "capacity": 70, "language": "fr",
        "title": {
            "en": "Mediation schemes and the shared management of public space",
            "fr": "Dispositifs de médiation et gestion partagée de l'espace public",
            "nl": "Bemiddelingsprojecten en gedeeld beheer van de openbare ruimte",
        },
        "description": "Social mediators, park wardens and residents: preventing conflicts "
        "in squares, parks and transport hubs.",
        "speakers": [
            "Head of a municipal mediation service (France)",
            "Coordinator of city wardens (Belgium)",
            "Public transport safety manager (Poland)",
        ],
    },
    {
        "code": "TS18", "kind": "thematic", "theme": PREVENTION, "slot": "F",
        "room": "Room Horta", "capacity": 100, "language": "fr",
        "title": {
            "en": "Preventing the recruitment of young people into drug trafficking",
            "fr": "Prévenir l'enrôlement des jeunes dans les trafics de drogue",
            "nl": "Voorkomen dat jongeren in de drugshandel terechtkomen",
        },
        "description": "Early warning signs, exit programmes and support for families of "
        "minors exploited by trafficking networks.",
        "speakers": [
            "Youth judge (France)",
            "Prevention officer of a port city (Netherlands)",
            "Social worker, youth exit programme (Sweden)",
        ],
    },
    {
        "code": "TS19", "kind": "thematic", "theme": LIVING_TOGETHER, "slot": "F",
        "room": "Room Magritte", "capacity": 80, "language": "en",
        "title": {
            "en": "Hate crime and discrimination: local strategies",
            "fr": "Crimes de haine et discriminations : stratégies locales",
            "nl": "Haatmisdrijven en discriminatie: lokale strategieën",
        },
        "description": "Reporting, recording and responding to hate crime, with the "
        "communities affected.",
        "speakers": [
            "Hate crime coordinator of a police force (United Kingdom)",
            "Anti-discrimination officer of a city (Belgium)",
            "Representative of a civil-society monitoring network (Hungary)",
        ],
    },
    {
        "code": "TS20", "kind": "thematic", "theme": CRISES, "slot": "F", "room": "Room Hergé",
        "capacity": 70, "language": "nl",
        "title": {
            "en": "Involving residents in local crisis preparedness",
            "fr": "Associer les habitants à la préparation aux crises",
            "nl": "Inwoners betrekken bij de voorbereiding op crisissen",
        },
        "description": "Volunteer networks, neighbourhood plans and risk communication that "
        "make a community ready before the crisis.",
        "speakers": [
            "Civil protection volunteer coordinator (Finland)",
            "Risk communication officer of a region (Belgium)",
            "Researcher in community resilience (Netherlands)",
        ],
    },
    {
        "code": "PN4", "kind": "panel", "theme": POLICY, "slot": "F", "room": "Room Ensor",
        "capacity": 100, "language": "fr",
        "title": {
            "en": "From discussions to policy recommendations: the cities' manifesto",
            "fr": "Des échanges aux recommandations : le manifeste des villes",
            "nl": "Van uitwisseling naar beleidsaanbevelingen: het manifest van de steden",
        },
        "description": "Session rapporteurs present the emerging recommendations; "
        "participants amend and endorse them.",
        "speakers": [
            "Executive director, Efus",
            "Session rapporteurs",
            "Deputy mayor for prevention and security (Belgium)",
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
        "description": "Meet the harm-reduction team of a supervised consumption room and "
        "its neighbourhood partners.",
        "speakers": ["Harm-reduction team coordinator"],
    },
    {
        "code": "FV2", "kind": "field_visit", "theme": CRISES, "slot": "visits",
        "room": DEPARTURE, "capacity": 20, "language": "nl",
        "title": {
            "en": "Field visit: the Regional Crisis Centre",
            "fr": "Visite de terrain : le Centre régional de crise",
            "nl": "Terreinbezoek: het Gewestelijk Crisiscentrum",
        },
        "description": "How the Brussels-Capital Region coordinates emergency services and "
        "municipalities during a crisis.",
        "speakers": ["Crisis centre duty officer, safe.brussels"],
    },
    {
        "code": "FV3", "kind": "field_visit", "theme": PUBLIC_SPACE, "slot": "visits",
        "room": DEPARTURE, "capacity": 15, "language": "en",
        "title": {
            "en": "Field visit: security technologies in the region",
            "fr": "Visite de terrain : les technologies de sécurité dans la région",
            "nl": "Terreinbezoek: veiligheidstechnologie in het gewest",
        },
        "description": "The regional video-protection and dispatch platform, and the rules "
        "that govern its use.",
        "speakers": ["Technology and innovation officer, safe.brussels"],
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
        "description": "A walk with the municipal services, wardens and residents who keep "
        "a busy district clean, safe and shared.",
        "speakers": ["Public-space manager of a Brussels municipality"],
    },
    {
        "code": "FV5", "kind": "field_visit", "theme": LIVING_TOGETHER, "slot": "visits",
        "room": DEPARTURE, "capacity": 20, "language": "nl",
        "title": {
            "en": "Field visit: night-time and neighbourhood mediation schemes",
            "fr": "Visite de terrain : médiation de nuit et médiation de quartier",
            "nl": "Terreinbezoek: nacht- en buurtbemiddeling",
        },
        "description": "Meet the mediators who settle neighbourhood disputes and night-time "
        "nuisance before they escalate.",
        "speakers": ["Coordinator of a local mediation service"],
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
        "description": "The conference's recommendations, to be submitted to national "
        "governments and EU decision makers.",
        "speakers": [
            "Executive director, Efus",
            "Director-General, safe.brussels",
            "Official, European Commission (Migration and Home Affairs)",
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
    data = {k: v for k, v in row.items() if k not in ("slot", "title")}
    when = start + timedelta(days=day)
    data.update(
        title=row["title"]["en"],
        title_translations=row["title"],
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
