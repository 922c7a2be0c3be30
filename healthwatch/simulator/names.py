"""Company and person names, slugs and e-mail addresses (always on `.example` domains)."""

import re
import unicodedata
from functools import lru_cache

import numpy as np

FIRST_NAMES = (
    "Aisha", "Alex", "Amara", "Ana", "Anders", "Ben", "Björn", "Carla", "Carlos", "Chen", "Chloé", "Dana",
    "David", "Diego", "Elena", "Emeka", "Emily", "Fatima", "Felix", "François", "Grace", "Hannah", "Hiro",
    "Ines", "Isabel", "Jack", "James", "Jana", "Jonas", "José", "Julia", "Kai", "Karin", "Kenji", "Laura",
    "Lea", "Liam", "Lucas", "Lucía", "Maria", "Marta", "Mateo", "Maya", "Mei", "Mia", "Mohammed", "Nadia",
    "Noah", "Nora", "Olivia", "Omar", "Oscar", "Priya", "Rafael", "Rahul", "Rosa", "Ruth", "Sam", "Sara",
    "Sofia", "Søren", "Tariq", "Theo", "Tom", "Valentina", "Wei", "Yara", "Yusuf", "Zoë", "Zainab",
)  # fmt: skip

LAST_NAMES = (
    "Adeyemi", "Andersen", "Bauer", "Becker", "Brown", "Campbell", "Chen", "Costa", "D'Angelo", "Dvořák",
    "Eriksson", "Fernández", "Fischer", "García", "Gupta", "Hansen", "Hoffmann", "Ito", "Jensen", "Johnson",
    "Kim", "Kowalski", "Kumar", "Larsen", "Lee", "López", "Martin", "Meyer", "Müller", "Nakamura", "Nguyen",
    "Novak", "Núñez", "O'Brien", "O'Connor", "Okafor", "Olsen", "Patel", "Pereira", "Petrov", "Ramírez",
    "Rossi", "Schmidt", "Schneider", "Silva", "Singh", "Smith", "Sørensen", "Tanaka", "Taylor", "Thompson",
    "Wagner", "Walker", "Wang", "Weber", "Williams", "Wójcik", "Yamamoto", "Zhang", "Åberg",
)  # fmt: skip

_PREFIXES = (
    "Apex", "Beacon", "Bluefin", "Brightline", "Cedar", "Copperleaf", "Evergreen", "Foxglove", "Granite",
    "Harbor", "Ironclad", "Juniper", "Keystone", "Larkspur", "Lumen", "Meridian", "Mosaic", "Nimbus",
    "Northwind", "Orchard", "Pinnacle", "Polaris", "Quarry", "Redwood", "Silverline", "Sparrow", "Summit",
    "Tidewater", "Trailhead", "Upland", "Vertex", "Westbrook", "Wren", "Zephyr", "Kestrel", "Alder",
    "Bramble", "Cobalt", "Driftwood", "Ember", "Fjord", "Glacier", "Halcyon", "Indigo", "Jasper", "Kiln",
)  # fmt: skip

_NOUNS = (
    "Analytics", "Bio", "Brewing", "Capital", "Cloud", "Data", "Dynamics", "Energy", "Foods", "Freight",
    "Health", "Insurance", "Labs", "Learning", "Legal", "Logistics", "Manufacturing", "Media", "Motors",
    "Networks", "Outfitters", "Partners", "Payments", "Pharma", "Realty", "Retail", "Robotics", "Security",
    "Software", "Studios", "Supply", "Systems", "Travel", "Works",
)  # fmt: skip

_SUFFIXES = ("", "", "", " Inc", " Ltd", " GmbH", " LLC", " Co", " Group", " AG", " SA")

# Real-world name shapes that break naive code: ampersands, apostrophes, non-ASCII letters.
_SPECIAL_NAMES = (
    "Müller & Söhne", "O'Brien Analytics", "Łukasiewicz Transport", "Café Olé Roasters",
    "Søndergaard Design", "Björk & Berg", "L'Atelier Numérique", "Zürich Präzision AG", "Smith & Wesson Data",
    "Núñez Hermanos", "D'Angelo & Figli", "Åberg Logistik",
)  # fmt: skip

_FOLD = str.maketrans({"ß": "ss", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "æ": "ae", "Æ": "AE", "đ": "d"})


def ascii_fold(text: str) -> str:
    """Letters without accents: 'Müller' -> 'Muller', 'Łukasz' -> 'Lukasz'."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return decomposed.encode("ascii", "ignore").decode("ascii")


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", ascii_fold(text).lower()).strip("-")


@lru_cache(maxsize=2**14)  # names come from short lists: a few thousand pairs
def email_local(first: str, last: str) -> str:
    return f"{slugify(first).replace('-', '')}.{slugify(last).replace('-', '')}"


def company_names(rng: np.random.Generator, n: int) -> list[str]:
    """`n` unique company-like names, a few of them with `&`, apostrophes or non-ASCII letters."""
    names: list[str] = []
    slugs: set[str] = set()
    specials = list(rng.permutation(_SPECIAL_NAMES))
    collisions = 0
    while len(names) < n:
        pattern = rng.random()
        if specials and pattern < 0.02:
            name = str(specials.pop())
        elif pattern < 0.6:
            name = f"{rng.choice(_PREFIXES)} {rng.choice(_NOUNS)}{rng.choice(_SUFFIXES)}"
        elif pattern < 0.93:
            name = f"{rng.choice(LAST_NAMES)} {rng.choice(_NOUNS)}{rng.choice(_SUFFIXES)}"
        else:
            name = f"{rng.choice(LAST_NAMES)} & {rng.choice(LAST_NAMES)}{rng.choice(_SUFFIXES)}"
        if collisions > n:  # the word lists are exhausted (very large worlds): number the names
            name = f"{name} {len(names)}"
        slug = slugify(name)
        if slug in slugs:
            collisions += 1
            continue
        slugs.add(slug)
        names.append(name)
    return names


def unique_slugs(names: list[str]) -> list[str]:
    slugs: list[str] = []
    used: set[str] = set()
    for name in names:
        base = slugify(name) or "company"
        slug, i = base, 2
        while slug in used:
            slug, i = f"{base}-{i}", i + 1
        used.add(slug)
        slugs.append(slug)
    return slugs


def person_names(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last names, as object arrays."""
    first = np.array(FIRST_NAMES, dtype=object)[rng.integers(0, len(FIRST_NAMES), n)]
    last = np.array(LAST_NAMES, dtype=object)[rng.integers(0, len(LAST_NAMES), n)]
    return first, last


def emails(first: np.ndarray, last: np.ndarray, domains: np.ndarray, taken: set[str]) -> np.ndarray:
    """`first.last@domain`, with a number added when the address is already taken."""
    out = np.empty(len(first), dtype=object)
    for i, (f, last_name, domain) in enumerate(zip(first, last, domains, strict=True)):
        local = email_local(f, last_name)
        address, k = f"{local}@{domain}", 2
        while address in taken:
            address, k = f"{local}{k}@{domain}", k + 1
        taken.add(address)
        out[i] = address
    return out
