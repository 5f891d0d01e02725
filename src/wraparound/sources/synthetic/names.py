"""Synthetic names for the identities a direct-care record shows. Drawn from short lists of
common English first names and surnames (ONS popular names; common surnames across the
communities of England), so demo screens look like a real practice list."""

from __future__ import annotations

import numpy as np

FEMALE = (
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Sophia", "Grace", "Lily", "Freya", "Emily",
    "Ivy", "Ella", "Rosie", "Evie", "Florence", "Poppy", "Charlotte", "Willow", "Aisha",
    "Fatima", "Maryam", "Zara", "Priya", "Sarah", "Emma", "Claire", "Susan", "Margaret",
    "Patricia", "Jean", "Mary", "Elizabeth", "Joan", "Dorothy", "Karen", "Helen", "Nicola",
    "Joanne", "Michelle", "Amy", "Hannah", "Chloe", "Jessica", "Lauren", "Megan", "Ngozi",
    "Agnieszka", "Mei",
)
MALE = (
    "Oliver", "George", "Noah", "Arthur", "Leo", "Muhammad", "Harry", "Oscar", "Archie",
    "Henry", "Jack", "Charlie", "Freddie", "Theo", "Thomas", "James", "William", "Jacob",
    "Alfie", "Joshua", "Daniel", "David", "John", "Michael", "Peter", "Robert", "Paul",
    "Andrew", "Mark", "Richard", "Stephen", "Christopher", "Anthony", "Kevin", "Gary", "Brian",
    "Kenneth", "Ronald", "Ali", "Omar", "Arjun", "Ravi", "Tomasz", "Chidi", "Wei", "Ryan",
    "Liam", "Connor",
)
SURNAMES = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
    "Thomas", "Clarke", "Jackson", "Wood", "Harris", "Edwards", "Turner", "Martin", "Cooper",
    "Hill", "Ward", "Hughes", "Moore", "Clark", "King", "Harrison", "Lewis", "Baker", "Lee",
    "Allen", "Morris", "Khan", "Scott", "Watson", "Davis", "Parker", "James", "Bennett",
    "Young", "Phillips", "Richardson", "Mitchell", "Bailey", "Carter", "Cook", "Singh",
    "Shaw", "Bell", "Collins", "Morgan", "Kelly", "Begum", "Miller", "Cox", "Hussain",
    "Marshall", "Simpson", "Price", "Anderson", "Adams", "Wilkinson", "Ali", "Ahmed", "Foster",
    "Ellis", "Murphy", "Chapman", "Mason", "Gray", "Richards", "Webb", "Griffiths", "Hunt",
    "Palmer", "Campbell", "Holmes", "Mills", "Rogers", "Barnes", "Knight", "Matthews",
    "Barker", "Powell", "Stevens", "Kaur", "Fisher", "Butler", "Dixon", "Russell", "Harvey",
    "Pearson", "Graham", "Okafor", "Nowak", "Chen", "Mensah", "Kowalski", "Nguyen",
)


def draw_names(female: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Given and family names for each person."""
    n = female.size
    given = np.where(female, np.array(FEMALE)[rng.integers(0, len(FEMALE), n)],
                     np.array(MALE)[rng.integers(0, len(MALE), n)])
    family = np.array(SURNAMES)[rng.integers(0, len(SURNAMES), n)]
    return given, family
