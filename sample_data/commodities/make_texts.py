"""Generate the commodities sample: texts.jsonl (the pool) and gold.jsonl (annotated test texts).

Run from the repository root:

    .venv/bin/python sample_data/commodities/make_texts.py          # write both files
    .venv/bin/python sample_data/commodities/make_texts.py --show   # print gold with spans marked
    .venv/bin/python sample_data/commodities/make_texts.py --answers FILE   # a fake LLM's key

The output is deterministic (fixed seeds). Texts come from two sources:

- hand-written heards (HANDWRITTEN_POOL, HANDWRITTEN_GOLD below), the gold ones annotated by hand
  as (substring, label) pairs in text order;
- a template generator: per product group, templates whose slots (commodity, price, quantity,
  place, period, ...) are filled from sector vocabularies, then roughened like chat traffic
  (case, abbreviations, typos, several items in one line). Each filled slot knows its label, so
  generated gold records are annotated by construction; every gold record was then read by hand
  with `--show` and the generator fixed where a convention was broken.

Conventions are in README.md next to this file. Rule-label words (sides, incoterms, exchanges,
commodities) only enter texts through labelled slots, so a gold text never contains an
unlabelled rule term; tests/core/test_sample_data.py checks that against the taxonomy's rules.
"""

from __future__ import annotations

import json
import random
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
POOL_SEED = 20260
GOLD_SEED = 71193
N_POOL_GENERATED = 300
N_GOLD_GENERATED = 44

Chunk = tuple[str, str | None]  # (text, label or None for plain text)


# ---------------------------------------------------------------------------------------------
# Vocabulary. A value listed twice is drawn twice as often (common products and ports).

COUNTERPARTIES = [
    "Norvia", "Norvia Trading", "Halden Grain", "Kestrel", "Kestrel Commodities", "Brenvik",
    "Aldmark", "Aldmark Energy", "Corvalis", "Dunmore Agri", "Estuar", "Falkner Metals",
    "Grisham Petroleum", "Istra Grains", "Jorvik", "Kaltero", "Lunden Trading", "Marrow & Finch",
    "Nordhaven", "Perrin Agro", "Quayside", "Rhinemark", "Solvane", "Tarsis", "Umbra Energy",
    "Veldt Resources", "Wexley", "Yarrowby", "Zelenko Agro", "Oakhurst Metals", "Pelagos",
]  # fmt: skip

SIDES = ["bid", "bid", "bid", "offered", "offered", "offered", "paid", "paid", "traded", "traded",
         "sold", "bought", "lifted", "hit", "given", "offer", "bids", "offers", "bidding",
         "trades"]  # fmt: skip

MONTHS = ["jan", "feb", "mar", "march", "apr", "april", "may", "jun", "june", "jul", "july",
          "aug", "sep", "sept", "oct", "nov", "dec", "january", "february", "september",
          "october", "november", "december"]  # fmt: skip
SHORT_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
CODES = "fghjkmnquvxz"
FRACS = ["", "", " 1/4", " 1/2", " 3/4"]


def _month(rng: random.Random) -> str:
    return rng.choice(MONTHS)


def _month_year(rng: random.Random) -> str:
    m, y = rng.choice(SHORT_MONTHS), rng.choice(["26", "27"])
    return rng.choice([f"{m}{y}", f"{m} {y}", f"{m}-{y}", f"{m}{y}"])


def _code(rng: random.Random) -> str:
    letter = rng.choice(CODES)
    # "q27" would read as a quarter, so August codes keep a one-digit year
    years = ["5", "6", "6"] if letter == "q" else ["5", "6", "26", "27", "6"]
    return letter + rng.choice(years)


class Deck:
    """Draw from a shuffled deck and refill it when empty, so every value shows up early."""

    def __init__(self, rng: random.Random, values: list[str]) -> None:
        self.rng, self.values, self.cards = rng, values, list[str]()

    def draw(self) -> str:
        if not self.cards:
            self.cards = list(self.values)
            self.rng.shuffle(self.cards)
        return self.cards.pop()


# ---------------------------------------------------------------------------------------------
# Sectors: vocabularies and value makers. A maker takes the rng and returns the slot's text.

Maker = Callable[[random.Random], str]


def _num(rng: random.Random, lo: float, hi: float, decimals: int) -> float:
    return round(rng.uniform(lo, hi), decimals)


def _fmt(x: float, decimals: int, thousands: bool = False) -> str:
    s = f"{x:,.{decimals}f}" if thousands else f"{x:.{decimals}f}"
    return s


def price_maker(
    lo: float,
    hi: float,
    decimals: int,
    units: list[str],
    thousands: bool = False,
    step: float = 0.25,
) -> Maker:
    """A flat price: a number, a range or a bid/offer pair, with a unit written several ways."""

    def make(rng: random.Random) -> str:
        x = _num(rng, lo, hi, decimals)
        commas = thousands and rng.random() < 0.7
        s = _fmt(x, decimals, commas)
        shape = rng.random()
        if shape < 0.12:
            y = x + max(step, 10**-decimals) * rng.randint(1, 4)
            sep = "-" if rng.random() < 0.6 else "/"
            s = f"{s}{sep}{_fmt(y, decimals, commas)}"
            return s if rng.random() < 0.6 else f"{s} {rng.choice(units)}"
        unit = rng.choice(units + [""] * 3)
        if not unit:
            return s
        if unit.startswith("$/"):
            return rng.choice([f"${s}{unit[1:]}", f"{s} {unit}", f"${s}"])
        if unit.startswith("€/"):
            return rng.choice([f"€{s}{unit[1:]}", f"€{s}"])
        if unit.startswith("£/"):
            return f"£{s}{unit[1:]}"
        if rng.random() < 0.15 and "/" in unit:
            return f"{s}{unit}"
        return f"{s} {unit}"

    return make


def pair_maker(lo: float, hi: float, decimals: int, step: float, unit: str = "") -> Maker:
    """A bid/offer pair written as one expression: 32.40/32.60, 97.75-98.25 usd/t."""

    def make(rng: random.Random) -> str:
        x = _num(rng, lo, hi, decimals)
        y = x + max(step, 10**-decimals) * rng.randint(1, 6)
        s = f"{_fmt(x, decimals)}/{_fmt(y, decimals)}"
        if unit and rng.random() < 0.3:
            s = f"{s} {unit}"
        return s

    return make


def _month_spread(rng: random.Random) -> str:
    i = rng.randrange(9)
    y = rng.choice(["26", "27", ""])
    a, b = SHORT_MONTHS[i], SHORT_MONTHS[i + rng.choice([1, 1, 3])]
    return rng.choice([f"{a}{y}/{b}{y}", f"{a}/{b}", f"{a}-{b}"])


def rel_maker(lo: float, hi: float, decimals: int, units: list[str]) -> Maker:
    """A differential such as +15, -0.85 or +35/t."""

    def make(rng: random.Random) -> str:
        x = _num(rng, lo, hi, decimals)
        sign = "+" if x >= 0 or rng.random() < 0.1 else "-"
        s = f"{sign}{_fmt(abs(x), decimals)}"
        unit = rng.choice(units + [""] * 2)
        if not unit:
            return s
        return f"{s}{unit}" if unit.startswith(("/", "c")) else f"{s} {unit}"

    return make


def cbot_maker(lo: float, hi: float) -> Maker:
    """CBOT grain quotes in dollars and quarter cents: 4.12 1/4, 412 1/4, $4.12/bu."""

    def make(rng: random.Random) -> str:
        x = _num(rng, lo, hi, 2)
        frac = rng.choice(FRACS)
        form = rng.random()
        if form < 0.35:
            return f"{x:.2f}{frac}"
        if form < 0.55:
            return f"{round(x * 100)}{frac}"
        if form < 0.7:
            return f"${x:.2f}/bu"
        if form < 0.85:
            return f"{x:.2f}{frac} usd/bu"
        return f"{round(x * 100)}{frac} c/bu"

    return make


def qty_maker(forms: list[str], lo: int, hi: int) -> Maker:
    """A quantity from forms with {n} (a number) and {k} (a number of thousands)."""

    def make(rng: random.Random) -> str:
        k = rng.randint(lo, hi)
        n = k * 1000
        form = rng.choice(forms)
        return form.format(k=k, n=f"{n:,}" if rng.random() < 0.6 else str(n), k2=k + 5)

    return make


def period_maker(options: list[Maker | str]) -> Maker:
    def make(rng: random.Random) -> str:
        opt = rng.choice(options)
        return opt(rng) if callable(opt) else opt

    return make


def _half(rng: random.Random) -> str:
    return f"{rng.choice(['1h', '2h', 'fh', 'lh'])} {rng.choice(MONTHS)}"


def _month_range(rng: random.Random) -> str:
    i = rng.randrange(11)
    return f"{SHORT_MONTHS[i]}{rng.choice(['/', '-'])}{SHORT_MONTHS[i + 1]}"


def _code_spread(rng: random.Random) -> str:
    i = rng.randrange(len(CODES) - 2)
    y = rng.choice(["5", "6"])
    return f"{CODES[i]}{y}/{CODES[i + 2]}{y}"


def _quarter(rng: random.Random) -> str:
    q = rng.randint(1, 4)
    return rng.choice([f"q{q}", f"q{q}", f"q{q}-27", f"q{q} 27", f"Q{q}"])


def _cal(rng: random.Random) -> str:
    y = rng.choice(["27", "27", "28"])
    return rng.choice([f"cal{y}", f"cal-{y}", f"cal {y}", f"cal{y}"])


def _season(rng: random.Random) -> str:
    return rng.choice(["win26", "sum27", "wi26", "su27", "win-26", "summer 27"])


def _laycan(rng: random.Random) -> str:
    d = rng.randint(1, 25)
    return f"{d}-{d + rng.randint(2, 6)} {rng.choice(SHORT_MONTHS)}"


_GRAIN_LOCS = ["rouen", "rouen", "dunkirk", "la pallice", "constanta", "novo", "novorossiysk",
               "odesa", "black sea", "black sea", "baltic", "up river", "paranagua", "santos",
               "rosario", "bahia blanca", "us gulf", "usg", "pnw", "nola", "egypt", "algeria",
               "morocco", "tarragona", "ghent", "hamburg", "spain"]  # fmt: skip
_OILSEED_LOCS = ["rotterdam", "rotterdam", "nwe", "kandla", "mumbai", "india", "med", "black sea",
                 "santos", "paranagua", "up river", "rosario", "dumai", "belawan", "tianjin",
                 "china", "hamburg", "constanta", "novo"]  # fmt: skip
_OIL_LOCS = ["ara", "ara", "nwe", "rotterdam", "med", "fujairah", "singapore", "sing", "usg",
             "houston", "lavera", "primorsk", "ceyhan", "antwerp", "amsterdam", "flushing", "waf",
             "augusta", "new york harbor"]  # fmt: skip
_OIL_PERIODS: list[Maker | str] = [
    _month_year,
    _month_year,
    _month,
    _half,
    "bom",
    "balmo",
    "m+1",
    _quarter,
    _laycan,
    _laycan,
    "prompt",
    _month_range,
]
_GAS_PERIODS: list[Maker | str] = [
    _quarter,
    _quarter,
    _season,
    _season,
    "da",
    "day-ahead",
    "wknd",
    "bom",
    "m+1",
    _month,
    _month_year,
    _cal,
    "q1+q2",
]

# A group is one kind of product with its own prices, sizes, places and venues; every heard is
# drawn from one group, so wheat is priced like wheat and brent like brent.
SECTORS: dict[str, dict[str, Any]] = {
    "grains": {
        "COM": ["wheat", "wheat", "wheat", "milling wheat", "feed wheat", "durum", "durum wheat",
                "corn", "corn", "maize", "barley", "feed barley", "malting barley", "sorghum"],
        "FCOM": ["corn", "corn", "wheat", "srw wheat", "kc wheat"],
        "BCOM": ["corn", "corn", "wheat", "maize"],
        "BPER": period_maker([_code]),
        "PRICE": price_maker(185, 295, 0, ["usd/t", "usd/t", "$/t", "usd/mt", "pmt", "eur/t"]),
        "PAIR": pair_maker(185, 295, 0, 1.0, "usd/t"),
        "RPRICE": rel_maker(-20, 45, 0, ["c", "c/bu", "usd/t", "/t"]),
        "FPRICE": cbot_maker(3.85, 6.2),
        "MPRICE": price_maker(212, 248, 2, ["eur/t", "€/t"], step=0.25),
        "MRPRICE": rel_maker(-10, 25, 0, ["eur/t", "/t", ""]),
        "FSPREAD": rel_maker(-18, 25, 0, ["c", "", ""]),
        "FSPER": period_maker([_code_spread]),
        "QTY": qty_maker(["{k}kt", "{k}k mt", "{n} mt", "{n}mt", "{k}-{k2}kt", "2x{k}kt",
                          "{k} kt", "{k}k tons", "{n}t"], 5, 60),
        "LOC": _GRAIN_LOCS,
        "PER": period_maker([_month, _month, _month_year, _half, _month_range, "new crop",
                             "old crop", "spot", "prompt"]),
        "FPER": period_maker([_code, _code, _code_spread, _month_year]),
        "INC": ["fob", "fob", "fob", "cif", "cfr", "cnf", "c&f", "fca", "dap", "exw", "fas",
                "ex works", "ex-works", "FOB", "cpt"],
        "EXCH": ["cbot", "cbot", "cme"],
    },
    "oilseeds": {
        "COM": ["soybeans", "soybeans", "soybean", "soy", "beans", "rapeseed", "sunseed",
                "sunflower seeds"],
        "FCOM": ["soybeans", "soybeans", "soy", "beans"],
        "BCOM": ["soybeans", "soy", "beans"],
        "BPER": period_maker([_code]),
        "PRICE": price_maker(390, 560, 0, ["usd/t", "usd/t", "$/t", "usd/mt", "eur/t", "pmt"]),
        "RPRICE": rel_maker(-30, 140, 0, ["c", "c/bu", "c/bu"]),
        "FPRICE": cbot_maker(9.6, 11.4),
        "MPRICE": price_maker(455, 505, 2, ["eur/t", "€/t"], step=0.25),
        "FSPREAD": rel_maker(-25, 30, 0, ["c", "", ""]),
        "FSPER": period_maker([_code_spread]),
        "QTY": qty_maker(["{k}kt", "{k}k mt", "{n} mt", "{k} kt", "{k}-{k2}kt", "2x{k}kt"],
                         5, 66),
        "LOC": _OILSEED_LOCS,
        "PER": period_maker([_month, _month_year, _half, _month_range, "new crop", "spot"]),
        "FPER": period_maker([_code, _code, _code_spread]),
        "INC": ["fob", "fob", "cif", "cif", "cfr", "cnf", "dap", "fca", "exw"],
        "EXCH": ["cbot", "cbot", "cme"],
    },
    "meal": {
        "COM": ["soymeal", "soymeal", "soybean meal", "sbm", "meal"],
        "FCOM": ["soymeal", "meal", "sbm"],
        "BCOM": ["soymeal", "meal", "sbm", "soybean meal"],
        "BPER": period_maker([_code]),
        "PRICE": price_maker(305, 430, 0, ["usd/t", "usd/t", "$/t", "usd/mt", "eur/t", "pmt"]),
        "RPRICE": rel_maker(-15, 40, 0, ["usd/st", "/st", ""]),
        "FPRICE": price_maker(288, 335, 1, ["usd/st", "$/st"], step=0.5),
        "FSPREAD": rel_maker(-8, 12, 1, ["", "usd/st"]),
        "FSPER": period_maker([_code_spread]),
        "QTY": qty_maker(["{k}kt", "{k}k mt", "{n} mt", "{k} kt", "{n}t"], 3, 60),
        "LOC": _OILSEED_LOCS,
        "PER": period_maker([_month, _month_year, _half, _month_range, "spot"]),
        "FPER": period_maker([_code, _code, _code_spread]),
        "INC": ["fob", "cif", "cif", "cfr", "dap", "fca", "exw"],
        "EXCH": ["cbot", "cme"],
    },
    "vegoils": {
        "COM": ["sunflower oil", "sunflower oil", "sunoil", "sfo", "soyoil", "soybean oil",
                "rapeseed oil", "palm oil", "palm oil", "cpo", "palm olein"],
        "FCOM": ["palm oil", "cpo"],
        "PRICE": price_maker(880, 1180, 0, ["usd/t", "usd/t", "$/t", "usd/mt", "eur/t", "pmt"],
                             thousands=True),
        "RPRICE": rel_maker(-20, 60, 0, ["usd/t", "/t", ""]),
        "FPRICE": price_maker(3850, 4350, 0, ["myr/t", "ringgit"], thousands=True, step=5),
        "QTY": qty_maker(["{k}kt", "{k}k mt", "{n} mt", "{k} kt", "{n}t", "{k}-{k2}kt"], 1, 45),
        "LOC": _OILSEED_LOCS,
        "PER": period_maker([_month, _month_year, _half, _month_range, "spot"]),
        "FPER": period_maker([_month_year, _month, "3rd month"]),
        "INC": ["fob", "fob", "cif", "cif", "cfr", "cnf", "dap", "fca", "exw"],
        "EXCH": ["bmd"],
    },
    "crude": {
        "COM": ["brent", "brent", "brent", "wti", "wti", "dubai", "urals", "forties",
                "cpc blend", "crude", "brent crude"],
        "PRICE": price_maker(68, 82, 2, ["$/bbl", "$/bbl", "usd/bbl", "/bbl"]),
        "PAIR": pair_maker(68, 82, 2, 0.02),
        "RPRICE": rel_maker(-2.5, 3.5, 2, ["/bbl", "$/bbl", "/bbl"]),
        "QTY": qty_maker(["600kb", "600kb", "1mb", "2mb", "700k bbl", "{k}0kb", "{k}kb/d",
                          "{k} kb/d", "1 cargo", "2 cargoes", "{k} lots", "{k}0k bbl"], 10, 90),
        "LOC": _OIL_LOCS,
        "PER": period_maker(_OIL_PERIODS),
        "FPER": period_maker([_month_year, _month_year, _code, "m+1"]),
        "SPER": period_maker([_month_spread]),
        "INC": ["fob", "fob", "cif", "cif", "cfr", "des", "dap", "FOB", "CIF"],
        "EXCH": ["ice", "ice", "nymex", "cme"],
        "PRA": ["platts", "platts", "argus"],
    },
    "products": {
        "COM": ["gasoil", "gasoil", "ulsd", "diesel", "10ppm", "naphtha", "naphtha", "jet",
                "jet fuel", "gasoline", "eurobob"],
        "PRICE": price_maker(560, 790, 2, ["$/t", "usd/t", "usd/mt", "$/t"], step=0.5),
        "RPRICE": rel_maker(-15, 45, 1, ["/t", "$/t", "usd/t"]),
        "PAIR": pair_maker(560, 790, 2, 0.25, "$/t"),
        "CRACK": rel_maker(6, 26, 2, ["/bbl", "$/bbl", ""]),
        "QTY": qty_maker(["{k}kt", "{k} kt", "1 cargo", "2 cargoes", "{k} lots", "{k}kt"],
                         10, 60),
        "LOC": _OIL_LOCS,
        "PER": period_maker(_OIL_PERIODS),
        "FPER": period_maker([_month_year, _month_year, _code, "m+1"]),
        "INC": ["fob", "fob", "cif", "cif", "cfr", "dap", "FOB", "CIF"],
        "EXCH": ["ice", "ice", "nymex"],
        "PRA": ["platts", "platts", "argus"],
    },
    "fueloil": {
        "COM": ["fuel oil", "fuel oil", "hsfo", "vlsfo", "vlsfo", "380cst", "3.5% fo",
                "0.5% fo"],
        "PRICE": price_maker(420, 610, 2, ["$/t", "usd/t", "usd/mt", "$/t"], step=0.5),
        "RPRICE": rel_maker(-12, 25, 1, ["/t", "$/t", "usd/t"]),
        "CRACK": rel_maker(-14, 4, 2, ["/bbl", "$/bbl", ""]),
        "QTY": qty_maker(["{k}kt", "{k} kt", "1 cargo", "{k}0kt", "{k} lots"], 3, 9),
        "LOC": ["singapore", "sing", "sing", "fujairah", "ara", "rotterdam", "usg", "med",
                "houston", "new york harbor"],
        "PER": period_maker(_OIL_PERIODS),
        "INC": ["fob", "fob", "cif", "des", "cfr"],
        "PRA": ["platts", "platts", "argus"],
    },
    "eugas": {
        "COM": ["ttf", "ttf", "ttf", "ttf", "psv", "natural gas"],
        "PRICE": price_maker(27, 41, 2, ["eur/mwh", "eur/mwh", "€/mwh", "e/mwh"], step=0.05),
        "NBPPRICE": price_maker(72, 104, 1, ["p/th", "p/th", "ppt"], step=0.1),
        "PAIR": pair_maker(27, 41, 2, 0.05, "eur/mwh"),
        "RPRICE": rel_maker(-1.5, 2.5, 2, ["eur/mwh", "/mwh", ""]),
        "QTY": qty_maker(["{k} mw", "{k}mw", "{k} mw", "{k} lots", "{k}0 mw"], 5, 50),
        "PER": period_maker(_GAS_PERIODS),
        "EXCH": ["ice", "ice", "eex"],
    },
    "usgas": {
        "COM": ["henry hub", "hh", "hh", "natgas", "natural gas"],
        "PRICE": price_maker(2.7, 4.3, 3, ["$/mmbtu", "usd/mmbtu", ""], step=0.005),
        "RPRICE": rel_maker(-0.3, 0.4, 3, ["", ""]),
        "QTY": qty_maker(["{k} lots", "{k}0 lots", "{k}k mmbtu/d"], 5, 50),
        "LOC": ["waha", "houston ship channel", "chicago", "algonquin"],
        "PER": period_maker([_month, _month_year, _code, _code, "bom", "m+1", _month_range,
                             "winter strip", "sum27"]),
        "EXCH": ["cme", "nymex", "nymex", "ice"],
    },
    "lng": {
        "COM": ["lng", "lng", "jkm"],
        "PRICE": price_maker(10.8, 14.6, 2, ["$/mmbtu", "usd/mmbtu", ""], step=0.05),
        "RPRICE": rel_maker(-1.2, 1.8, 2, ["", "$/mmbtu"]),
        "QTY": qty_maker(["1 cargo", "1 cargo", "2 cargoes", "3.4 tbtu", "3.5 tbtu"], 1, 2),
        "LOC": ["zeebrugge", "nwe", "japan", "korea", "dunkirk", "milford haven", "china",
                "tokyo bay", "sabine pass", "gate"],
        "PER": period_maker([_month, _month_year, _half, _month_range, _laycan]),
        "INC": ["des", "des", "fob", "dap"],
        "EXCH": ["ice", "cme"],
        "PRA": ["platts", "argus"],
    },
    "power": {
        "COM": ["german power", "german power", "german power", "power", "power",
                "french power"],
        "PRICE": price_maker(74, 118, 2, ["eur/mwh", "eur/mwh", "€/mwh"], step=0.05),
        "UKPRICE": price_maker(68, 96, 2, ["£/mwh", "gbp/mwh"], step=0.05),
        "PAIR": pair_maker(74, 118, 2, 0.1, "eur/mwh"),
        "QTY": qty_maker(["{k} mw", "{k}mw", "{k} mw", "{k} lots"], 5, 50),
        "PER": period_maker([_cal, _cal, _quarter, _quarter, "m+1", _month, _month_year, "da",
                             "day ahead", "bom", "wknd", "dec-27"]),
        "EXCH": ["eex", "eex", "epex", "ice"],
        "SHAPE": ["base", "base", "peak", "baseload", "pk", "bl", "b/l"],
    },
    "carbon": {
        "COM": ["eua", "eua", "euas", "carbon"],
        "PRICE": price_maker(64, 82, 2, ["eur/t", "€/t", ""], step=0.05),
        "QTY": qty_maker(["{k} lots", "{k}kt", "{k}0kt"], 1, 50),
        "PER": period_maker(["dec26", "dec26", "dec-26", "dec27", "dec 27", "mar27", "spot",
                             "z6", "z7"]),
        "EXCH": ["ice", "ice", "eex"],
    },
    "coal": {
        "COM": ["coal", "coal", "api2", "api2", "api4", "thermal coal", "steam coal"],
        "PRICE": price_maker(86, 118, 2, ["$/t", "usd/t", "usd/t"], step=0.25),
        "PAIR": pair_maker(86, 118, 2, 0.25, "usd/t"),
        "QTY": qty_maker(["{k}kt", "{k} kt", "2x{k}kt", "{k}kt/month", "{k} lots"], 5, 80),
        "LOC": ["ara", "ara", "richards bay", "rb", "newcastle", "rotterdam", "amsterdam",
                "colombia", "puerto bolivar", "kalimantan", "qingdao", "gdansk"],
        "PER": period_maker([_cal, _cal, _quarter, _quarter, _month, _month_year, "bom", "m+1",
                             "2027"]),
        "INC": ["cif", "cif", "fob", "fob", "cfr"],
        "EXCH": ["ice", "eex", "sgx", "cme"],
    },
    "metals": {
        "COM": ["copper", "copper", "copper", "aluminium", "aluminium", "aluminum", "alu",
                "nickel", "zinc", "zinc", "copper cathode"],
        "CUPRICE": price_maker(9450, 10250, 0, ["$/t", "usd/t", "$/t"], thousands=True, step=5),
        "ALPRICE": price_maker(2280, 2640, 0, ["$/t", "usd/t"], thousands=True, step=2.5),
        "NIPRICE": price_maker(15400, 17600, 0, ["$/t", "usd/t"], thousands=True, step=10),
        "ZNPRICE": price_maker(2580, 2920, 0, ["$/t", "usd/t"], thousands=True, step=2.5),
        "CXPRICE": price_maker(4.3, 4.8, 4, ["$/lb", "usd/lb"], step=0.0005),
        "CNYPRICE": price_maker(74000, 80000, 0, ["yuan/t", "cny/t", "rmb"], step=10),
        "RPRICE": rel_maker(40, 180, 0, ["/t", "usd/t", "$/t"]),
        "SPREAD": rel_maker(-60, 25, 0, ["", "/t"]),
        "QTY": qty_maker(["{k}00t", "{n} mt", "{k} lots", "{k}kt", "{k}00 mt", "{k}00 tonnes"],
                         1, 20),
        "LOC": ["rotterdam", "rotterdam", "shanghai", "yangshan", "baltimore", "antwerp",
                "singapore", "busan", "johor", "mjp", "nola"],
        "PER": period_maker(["3m", "3m", "3m", "cash", "cash", "cash/3m", _month_year, _month,
                             _quarter, _cal]),
        "INC": ["cif", "dap", "ddp", "fca", "exw", "dpu", "cpt"],
        "EXCH": ["lme", "lme", "lme", "comex", "shfe", "cme"],
    },
    "freight": {
        "COM": ["capesize", "capesize", "panamax", "supramax", "handysize"],
        "PRICE": price_maker(7.5, 12.5, 2, ["$/t", "usd/t"], step=0.05),
        "TCPRICE": price_maker(11000, 24000, 0, ["$/day", "/day", "usd/day"], thousands=True,
                               step=250),
        "QTY": qty_maker(["{k}kt", "{k}kt", "{k} kt"], 50, 80),
        "LOC": ["tubarao", "west aus", "brazil", "us gulf", "black sea", "nopac", "indonesia"],
        "LOC2": ["qingdao", "china", "china", "rotterdam", "japan", "skaw", "gibraltar"],
        "PER": period_maker([_month, _month_year, _quarter, _cal, "bal month", "spot"]),
        "EXCH": ["sgx", "ice", "eex"],
    },
}  # fmt: skip

# Which slot names are labels. H is the "heard" prefix; SHAPE (base/peak) is plain text.
SLOT_LABELS = {
    "CP": "COUNTERPARTY",
    "SIDE": "SIDE",
    "COM": "COMMODITY",
    "FCOM": "COMMODITY",
    "QTY": "QUANTITY",
    "LOC": "LOCATION",
    "LOC2": "LOCATION",
    "PER": "PERIOD",
    "PER2": "PERIOD",
    "FPER": "PERIOD",
    "SPER": "PERIOD",
    "FSPER": "PERIOD",
    "BPER": "PERIOD",
    "BCOM": "COMMODITY",
    "INC": "INCOTERM",
    "EXCH": "EXCHANGE",
    "PRA": "EXCHANGE",
}
PRICE_SLOTS = {
    "PRICE",
    "PRICE2",
    "RPRICE",
    "FPRICE",
    "MPRICE",
    "NBPPRICE",
    "UKPRICE",
    "CUPRICE",
    "CXPRICE",
    "CNYPRICE",
    "ALPRICE",
    "NIPRICE",
    "ZNPRICE",
    "SPREAD",
    "PAIR",
    "TCPRICE",
    "CRACK",
    "MRPRICE",
    "FSPREAD",
}
# Second draws of a slot in one template (PRICE2 is another PRICE).
SECOND = {"PRICE2": "PRICE", "LOC2": "LOC", "PER2": "PER"}  # fmt: skip

# ---------------------------------------------------------------------------------------------
# Templates per group. {SLOT} draws from the group; {SLOT=value} forces the value (still
# labelled); everything else is plain text and must contain no rule-label term.

_PHYSICAL = [
    "{H}{COM} {SIDE} {PRICE} {INC} {LOC} {PER}",
    "{H}{CP} {SIDE} {QTY} {COM} {INC} {LOC} {PER} at {PRICE}",
    "{COM} {INC} {LOC} {PER} {PRICE} {SIDE}",
    "{H}{CP} {SIDE} {LOC} {COM} {QTY} {PER} shipment, {PRICE} {INC}",
    "{QTY} {COM} {SIDE} {PRICE} {INC} {LOC} {PER} - {CP}",
    "anyone seen {COM} {SIDE=offers} {INC} {LOC} for {PER}?",
    "{H}{CP} looking for {QTY} {COM} {PER} {INC} {LOC}, no price yet",
    "{H}{CP} {SIDE} {COM} {PRICE} {INC} {LOC}",
    "{COM} {LOC} {PER} {SIDE} {PRICE}, {QTY}",
    "{H}{LOC} {COM} {PER} {PRICE} {INC} {SIDE} by {CP}",
    "{COM} {INC} {LOC} quiet, last {SIDE=traded} {PRICE} for {PER}",
    "{H}{QTY} {COM} {INC} {LOC} {PER} {SIDE} {PRICE}",
    "{CP} {SIDE} {QTY} {COM} {PER}, {PRICE} {INC} {LOC}",
    "{QTY} {COM} {LOC} {PER} {SIDE} {PRICE} {INC}",
]
_CBOT = [
    "{H}{EXCH} {FCOM} {FPER} {SIDE} {FPRICE}",
    "{EXCH} {FCOM} {FPER} {FPRICE} {SIDE}, {FPER} {FPRICE} {SIDE}",
    "{BCOM} {LOC} {PER} {INC} {RPRICE} over {EXCH} {BPER} {SIDE}",
    "{H}{BCOM} basis {LOC} {PER} {RPRICE} {BPER} {SIDE}",
    "{FCOM} {FSPER} spread {FSPREAD} {SIDE} on {EXCH}",
    "{H}{EXCH} {FCOM} {FPER} {SIDE} {FPRICE}, {QTY=500 lots}",
]

TEMPLATES: dict[str, list[str]] = {
    "grains": [
        *_PHYSICAL,
        *_CBOT,
        "{COM} {PER} {INC} {LOC}: {PAIR} {SIDE=bid}/{SIDE=offer}",
        "{H}tender: {CP} {SIDE=bought} {QTY} {COM} at {PRICE} {INC} for {PER}",
        "{EXCH=matif} {COM=wheat} {FPER} {MPRICE} {SIDE}",
        "{H}{EXCH=euronext} {COM=wheat} {FPER} {SIDE} {MPRICE}, {QTY}",
        "{COM=wheat} {INC=fob} {LOC} {PER} {MRPRICE} over {EXCH=matif} {FPER} {SIDE}",
    ],
    "oilseeds": [
        *_PHYSICAL,
        *_CBOT,
        "{EXCH=euronext} {COM=rapeseed} {FPER} {SIDE} {MPRICE}",
        "{H}{COM=canola} {INC} {LOC} {PER} {PRICE} {SIDE}, {QTY}",
    ],
    "meal": [*_PHYSICAL, *_CBOT],
    "vegoils": [
        *_PHYSICAL,
        "{H}{EXCH} {FCOM} {FPER} {SIDE} {FPRICE}",
        "{COM} {PER} {INC} {LOC} {PRICE} {SIDE}, {PER2} {PRICE2} {SIDE}",
        "{H}{COM} {INC} {LOC} {PER} {PRICE}-ish, {CP} {SIDE}",
        "any {COM} {SIDE=offers} {INC} {LOC} {PER}? {CP} asking",
        "{COM} {INC} {LOC} {PER}: {PRICE} {SIDE}",
        "{COM} {LOC} {PER} {RPRICE} over {PER2} {SIDE}",
    ],
    "crude": [
        "{H}{COM} {FPER} {SIDE} {PRICE} on {EXCH}",
        "{COM} {FPER} {SIDE} {PRICE} vs {EXCH}",
        "{H}{CP} {SIDE} {COM} {PER} dated {RPRICE}",
        "{COM} {QTY} {INC} {LOC} {PER} {SIDE} at dated {RPRICE}, {CP}",
        "{EXCH=ice} {COM=brent} {FPER} {PAIR} {SIDE=bid}/{SIDE=offered}",
        "{H}{CP} {SIDE} {QTY} {COM} {INC} {LOC} {PER}",
        "{COM} {SPER} spread {RPRICE} {SIDE}",
        "{COM} {QTY} {SIDE} {PRICE} {FPER}",
        "{COM=wti} {LOC=cushing} {FPER} {PRICE} {SIDE}",
        "{H}{PRA} {COM} window: {CP} {SIDE} {QTY} {INC} {LOC} {PER} dated {RPRICE}",
        "{COM=brent} {FPER} {PRICE} {SIDE}, {COM=wti} {FPER} {PRICE2} {SIDE}",
        "{H}{CP} looking for {QTY} {COM} {INC} {LOC} {PER}",
    ],
    "products": [
        "{H}{COM} {INC} {LOC} {PER} {PRICE} {SIDE}",
        "{COM=jet} {INC} {LOC} {PER} {RPRICE} vs {EXCH=ice} {COM=gasoil} {SIDE}",
        "{H}{QTY} {COM} {INC} {LOC} {PER} {SIDE} {PRICE}",
        "{COM} {INC} {LOC} {PER} {SIDE} {PRICE}",
        "{H}{COM} {INC} {LOC} {PER} {RPRICE} over {PRA} quotes, {CP} {SIDE}",
        "{PRA} {COM} window: {CP} {SIDE} {QTY} {INC} {LOC} {PER} at {PRICE}",
        "{COM} {PER} crack {CRACK} {SIDE}",
        "{H}refinery issues at {LOC}, {QTY} less {COM} {INC} {LOC2} in {PER}",
        "{H}{CP} {SIDE} {QTY} {COM} {INC} {LOC} {PER} at {PRICE}",
        "{EXCH=ice} {COM=gasoil} {FPER} {PRICE} {SIDE}",
        "{COM} {INC} {LOC} {PER}: {PAIR}, {CP} {SIDE}",
    ],
    "fueloil": [
        "{H}{COM} {INC} {LOC} {PER} {SIDE} {PRICE}",
        "{COM} {LOC} {PER} {PRICE} {SIDE}, {QTY}",
        "{H}{CP} {SIDE} {QTY} {COM} {INC} {LOC} {PER} at {PRICE}",
        "{COM} {LOC} {PER} crack {CRACK} {SIDE}",
        "{PRA} {COM} {LOC} window: {CP} {SIDE} {QTY} at {RPRICE} over quotes",
        "{COM} {LOC} {PER} hi-5 {RPRICE} {SIDE}",
    ],
    "eugas": [
        "{H}{COM} {PER} {SIDE} {PRICE}",
        "{COM} {PER} {PRICE} {SIDE} on {EXCH}",
        "{H}{COM=nbp} {PER} {SIDE} {NBPPRICE}",
        "{COM=nbp} {PER} {NBPPRICE} {SIDE}, {QTY}",
        "{COM=ttf} {PER} {PAIR} {SIDE=bid}/{SIDE=offer}",
        "{H}{CP} {SIDE} {QTY} {COM=ttf} {PER} at {PRICE}",
        "{COM=ttf}-{COM=nbp} {PER} spread {RPRICE} {SIDE}",
        "{COM} {PER} {SIDE} {PRICE}, {PER2} {PRICE2} {SIDE}",
        "{H}{COM} {PER} {SIDE} {QTY}, no price shown",
        "{COM} {PER} vs {PER2} {RPRICE} {SIDE}",
        "{EXCH} {COM=ttf} {PER} {SIDE} {PRICE}, {QTY}",
    ],
    "usgas": [
        "{H}{COM} {PER} {SIDE} {PRICE} {EXCH}",
        "{COM} {PER} {PRICE} {SIDE}",
        "{EXCH} {COM} {PER} {SIDE} {PRICE}, {QTY}",
        "{H}{CP} {SIDE} {QTY} {COM} {PER} at {PRICE}",
        "{COM} {LOC} basis {PER} {RPRICE} {SIDE}",
        "{COM} {PER} {SIDE} {PRICE}, {PER2} {PRICE2} {SIDE}",
    ],
    "lng": [
        "{H}{COM=lng} {QTY} {INC} {LOC} {PER} {SIDE} at {COM=jkm} {RPRICE}",
        "{COM=jkm} {PER} {SIDE} {PRICE}",
        "{H}{CP} {SIDE} {QTY} {INC} {LOC} {PER} at {PRICE}",
        "{COM=lng} {INC} {LOC} {PER} {PRICE} {SIDE}",
        "{H}{CP} looking for {QTY} {COM=lng} {INC} {LOC} {PER}",
        "{PRA} {COM=lng} {INC} {LOC} {PER} assessed {PRICE}",
    ],
    "power": [
        "{H}{COM} {PER} {SHAPE} {SIDE} {PRICE}",
        "{COM=german power} {PER} {SHAPE} {PRICE} {SIDE} on {EXCH}",
        "{H}{CP} {SIDE} {QTY} {COM} {PER} {SHAPE} at {PRICE}",
        "{COM} {PER} {SHAPE} {PAIR} {SIDE=bid}/{SIDE=offered}",
        "{COM=uk power} {PER} {SHAPE} {SIDE} {UKPRICE}",
        "{H}{COM} {PER} {SHAPE} {SIDE} {PRICE}, {PER2} {PRICE2}",
        "{COM=german power} {PER} {SHAPE} {SIDE} {QTY}",
        "{COM=french power} {PER} {SHAPE} {PRICE} {SIDE}",
        "{H}{QTY} {COM} {PER} {SHAPE} {SIDE} at {PRICE} on {EXCH}",
    ],
    "carbon": [
        "{COM} {PER} {SIDE} {PRICE} on {EXCH}",
        "{H}{COM} {PER} {PRICE} {SIDE}, {COM=carbon} softer",
        "{H}{CP} {SIDE} {QTY} {COM} {PER} at {PRICE}",
        "{EXCH} {COM} {PER} {PRICE} {SIDE}",
    ],
    "coal": [
        "{H}{COM} {PER} {SIDE} {PRICE}",
        "{COM=coal} {COM=api2} {PER} {SIDE} {PRICE}",
        "{H}{CP} {SIDE} {QTY} {COM} {INC} {LOC} {PER} {PRICE}",
        "{COM=api2} {PER} {PAIR} {SIDE=bid}/{SIDE=offered} {EXCH}",
        "{COM} {INC} {LOC} {PER} {SIDE} {PRICE}",
        "{QTY} {COM} {INC} {LOC} {PER} {SIDE} at {PRICE} - {CP}",
        "{COM=api4} {PER} {SIDE} {PRICE}, {COM=api2} {PER2} {PRICE2}",
    ],
    "metals": [
        "{H}{EXCH=lme} {COM=copper} {PER} {SIDE} {CUPRICE}",
        "{EXCH=lme} {COM=copper} {PER} {CUPRICE} {SIDE}",
        "{H}{COM=aluminium} {PER} {SIDE} {ALPRICE}",
        "{COM=aluminum} {LOC} premium {RPRICE} {SIDE} {PER}",
        "{EXCH=lme} {COM=nickel} {PER} {SIDE} {NIPRICE}",
        "{COM=zinc} {PER} {ZNPRICE} {SIDE} on {EXCH=lme}, {QTY}",
        "{COM=copper} {PER} {SPREAD} {SIDE}",
        "{H}{CP} {SIDE} {QTY} {COM=copper cathode} {INC} {LOC} at {RPRICE} over {EXCH=lme}",
        "{COM=alu} {PER} {ALPRICE} {SIDE}, {COM=zinc} {ZNPRICE} {SIDE}",
        "{H}{CP} {SIDE} {QTY} {COM} {PER} {EXCH=lme}",
        "{EXCH=comex} {COM=copper} {FPER=dec} {SIDE} {CXPRICE}",
        "{EXCH=shfe} {COM=copper} {FPER=2602} {SIDE} {CNYPRICE}",
        "{COM=copper cathode} {INC} {LOC} premium {RPRICE} {SIDE}",
    ],
    "freight": [
        "{H}{COM=capesize} c5 {PER} {SIDE} {PRICE}",
        "{COM} {LOC}-{LOC2} {PER} {SIDE} {PRICE}",
        "{COM=panamax} 4tc {PER} {SIDE} {TCPRICE}",
        "{H}{QTY} {COM} {LOC} to {LOC2} {PER} {SIDE} {PRICE}",
        "{COM=supramax} {LOC} {PER} {TCPRICE} {SIDE} on {EXCH}",
    ],
}

NO_PRICE_TEMPLATES = [
    "{H}{COM} very quiet {LOC} today",
    "{COM} {INC} {LOC} {PER}? anyone",
    "{CP} back in {COM} {PER}",
    "{H}{CP} out of {LOC} {COM} for {PER}",
    "no {SIDE=bids} for {COM} {PER} so far",
    "{COM} {PER} wide, no {SIDE=trades}",
]

HEARD = ["", "", "", "", "", "heard ", "heard ", "heard ", "hrd ", "hearing ", "mkt talk: ",
         "fyi ", "rumour ", "understand ", "indic: ", "seen ", "talk of ", "heard that ",
         "apparently ", "fwiw ", "HEARD ", "pls note ", "ok "]  # fmt: skip
ENDINGS = ["", "", "", "", "", "", ".", " pls confirm", " thx", " ..", " - unconfirmed",
           " (unconfirmed)", " !!", " firm", " ??", " afaik", " for now"]  # fmt: skip
JOINERS = ["; ", ", ", " / ", " | ", " and ", ". ", " -- ", ", also "]


# ---------------------------------------------------------------------------------------------
# Rendering


class Generator:
    """Fills templates with one rng and per-slot decks, and renders labelled chunks."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.decks: dict[str, Deck] = {}

    def _deck(self, key: str, values: list[str]) -> Deck:
        if key not in self.decks:
            self.decks[key] = Deck(self.rng, values)
        return self.decks[key]

    def slot(self, sector: str, name: str, forced: str | None) -> list[Chunk]:
        rng, voc = self.rng, SECTORS[sector]
        label = SLOT_LABELS.get(name) or ("PRICE" if name in PRICE_SLOTS else None)
        if forced is not None:
            return [(forced, label)]
        if name == "H":
            return [(rng.choice(HEARD), None)]
        if name == "CP":
            return [(self._deck("CP", COUNTERPARTIES).draw(), label)]
        if name == "SIDE":
            return [(self._deck("SIDE", SIDES).draw(), label)]
        if name == "SHAPE":
            return [(rng.choice(voc["SHAPE"]), None)]
        key = name if name in voc else SECOND.get(name, name)
        value = voc[key]
        if isinstance(value, list):
            return [(self._deck(f"{sector}.{key}", value).draw(), label)]
        return [(value(rng), label)]

    def fill(self, sector: str, template: str) -> list[Chunk]:
        chunks: list[Chunk] = []
        pos = 0
        for m in re.finditer(r"\{([A-Z0-9]+)(?:=([^}]+))?\}", template):
            if m.start() > pos:
                chunks.append((template[pos : m.start()], None))
            chunks.extend(self.slot(sector, m.group(1), m.group(2)))
            pos = m.end()
        chunks.append((template[pos:], None))
        return chunks

    @staticmethod
    def fits(sector: str, template: str) -> bool:
        """Whether the sector has a value for every unforced slot of the template."""
        needed = {m.group(1) for m in re.finditer(r"\{([A-Z0-9]+)\}", template)}
        needed = {SECOND.get(n, n) for n in needed}
        return all(n in ("H", "CP", "SIDE") or n in SECTORS[sector] for n in needed)

    def heard(self, sector: str) -> list[Chunk]:
        rng = self.rng
        pool = TEMPLATES[sector] + [t for t in NO_PRICE_TEMPLATES if self.fits(sector, t)]
        n_items = rng.choices([1, 2, 3], weights=[78, 18, 4])[0]
        chunks: list[Chunk] = []
        for i in range(n_items):
            template = rng.choice(pool)
            if i > 0:
                template = template.replace("{H}", "")
                chunks.append((rng.choice(JOINERS), None))
            chunks.extend(self.fill(sector, template))
        chunks.append((rng.choice(ENDINGS), None))
        return self.roughen(chunks)

    def roughen(self, chunks: list[Chunk]) -> list[Chunk]:
        """Case styles and typos as in chat; labels stay with their (changed) text."""
        rng = self.rng
        style = rng.choices(["lower", "sentence", "upper", "mixed"], weights=[60, 12, 6, 22])[0]
        out: list[Chunk] = []
        for text, label in chunks:
            if style == "upper":
                text = text.upper()
            elif style == "mixed":
                if label == "COUNTERPARTY":
                    text = text.title() if text.islower() else text
                elif label in ("EXCHANGE", "INCOTERM") and rng.random() < 0.7:
                    text = text.upper()
                elif label == "COMMODITY" and rng.random() < 0.3:
                    text = text.capitalize() if rng.random() < 0.6 else text.upper()
                elif label == "PERIOD" and rng.random() < 0.4:
                    text = text.upper()
                elif label == "LOCATION" and rng.random() < 0.5:
                    text = text.title()
            elif label == "COUNTERPARTY" and rng.random() < 0.55:
                text = text.lower()
            if label is None and rng.random() < 0.07:
                text = _typo(rng, text)
            if label == "COMMODITY" and rng.random() < 0.025:
                text = _typo(rng, text)
            out.append((text, label))
        if style == "sentence":
            first = next(i for i, (t, _) in enumerate(out) if t)
            t, lab = out[first]
            out[first] = (t[:1].upper() + t[1:], lab)
        return out


def _typo(rng: random.Random, text: str) -> str:
    """Swap two adjacent letters inside one word of at least five letters."""
    words = [m for m in re.finditer(r"[A-Za-z]{5,}", text)]
    if not words:
        return text
    w = rng.choice(words)
    i = rng.randrange(w.start() + 1, w.end() - 2)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def render(chunks: list[Chunk]) -> tuple[str, list[dict[str, Any]]]:
    """Join chunks into a text and its spans; whitespace is collapsed and trimmed."""
    text, spans = "", list[dict[str, Any]]()
    for piece, label in chunks:
        if label is None:
            piece = re.sub(r"\s+", " ", piece)
            if text.endswith(" ") and piece.startswith(" "):
                piece = piece[1:]
            if not text:
                piece = piece.lstrip()
            text += piece
        else:
            if text.endswith(" ") and not piece:
                continue
            spans.append({"start": len(text), "end": len(text) + len(piece), "label": label})
            text += piece
    stripped = text.rstrip()
    assert all(s["end"] <= len(stripped) for s in spans), stripped
    return stripped, spans


SECTOR_WEIGHTS = {"grains": 22, "oilseeds": 6, "meal": 4, "vegoils": 8, "crude": 10,
                  "products": 9, "fueloil": 4, "eugas": 8, "usgas": 4, "lng": 3, "power": 9,
                  "carbon": 3, "coal": 7, "metals": 10, "freight": 4}  # fmt: skip


def generate(seed: int, n: int, exclude: set[str]) -> list[tuple[str, list[dict[str, Any]], str]]:
    """`n` distinct generated heards as (text, spans, sector), none of them in `exclude`."""
    gen = Generator(seed)
    sectors, weights = list(SECTOR_WEIGHTS), list(SECTOR_WEIGHTS.values())
    seen = set(exclude)
    out: list[tuple[str, list[dict[str, Any]], str]] = []
    while len(out) < n:
        sector = gen.rng.choices(sectors, weights)[0]
        text, spans = render(gen.heard(sector))
        if text.lower() in seen:
            continue
        seen.add(text.lower())
        out.append((text, spans, sector))
    return out


# ---------------------------------------------------------------------------------------------
# Hand-written heards

HANDWRITTEN_POOL = [
    "heard wheat bid 250 usd/t fob rouen march",
    "brent dec26 traded 74.30 vs ice",
    "ttf q1 offered 32.5 eur/mwh",
    "cme corn h5 bid 4.12 1/4 usd/bu",
    "coal api2 cal27 paid 98.5",
    "lme copper 3m offered 9,850 last, cash/3m -38 bid",
    "sunflower oil 44k mt cif kandla oct/nov heard paid 1,065",
    "morning all. matif wheat mar 228.25 bid, dec 231 offered, v thin",
    "Halden Grain sold 2 cargoes of milling wheat to egypt, 30kt each, 254.50 cnf, 1h april",
    "any1 got a view on corn basis up river? heard +95 over k paid yday",
    "WTI CUSHING NOV 71.85 LAST",
    "gasoil 10ppm fob ara barges 712 bid / 716 offered 1-5 dec",
    "naphtha cif nwe cargo 25kt dec 615 $/t traded",
    "jet cif nwe +38/t vs ice gasoil, thin",
    "380cst fob sing dec 448.50 offered by Quayside",
    "vlsfo fujairah delivered 572, hsfo 441",
    "nbp win26 96.5p/th bid, sum27 81.2 offered",
    "hh jan 3.915 paid 500 lots",
    "jkm feb $12.85/mmbtu",
    "german power cal27 base 86.35 paid eex 5mw, peak 104.10 bid",
    "french power q1 base offered 96, no bids",
    "DE DA base cleared 112.40",
    "nordic power q1 base 41.50 traded nasdaq, 5 mw",
    "capesize c5 q1 offering 10.10 on sgx",
    "heard trade at 252 for rouen wheat march",
    "copper cathode dpu antwerp premium 95/t offered",
    "bmd cpo 3rd month 4,112 ringgit bid, soyoil spread wider",
    "aluminium ingot ddp italy q1 premium 310-320 heard",
    "eua dec26 71.90 bid ice",
    "api4 q2-27 92.75/93.25",
    "coal cif ara 2x75kt jan  traded 101.25 - Tarsis seller",
    "zinc 3m 2,745 offered, nickel 16,320 bid",
    "alu mjp premium q1 offers 165-175",
    "capesize c5 sep 9.85 traded, c3 24.10",
    "soymeal argentina upriver feb 318 usd/t fob",
    "palm oil cpo cif rotterdam jan/feb 1,085 offered",
    "rapeseed oil fob dutch mill nov 1,120 eur/t bid",
    "canola ... anyone?",
    "heard sorghum to china 15kt fob usg",
    "corn h5/k5 -6 1/2 traded 2k",
    "SOYBEANS F5 10.15 1/2 bid",
    "barley black sea new crop fob 205 heard, feed barley rouen 210 eur/t",
    "urals primorsk dec loading dated -11.50 talk",
    "forties dated +0.85 bid, no offers",
    "cpc blend ceyhan 80kt 10-14 dec dated -1.20 traded",
    "eurobob swaps dec 742 offered",
    "rbob z5 2.1540",
    "ttf-nbp q1 spread 1.35 paid",
    "lng des nwe feb 11.60, one cargo",
    "psv q1 35.10 bid",
    "wheat tender algeria 50kt feb/mar, results tomorrow",
    "copper cathode cif shanghai premium 48 heard",
    "panamax 4tc q4 $15,750/day",
    "durum wheat fob la pallice 295 offered",
    "maize fob constanta new crop 199 usd bid",
    "natgas hh apr/may spread -0.11",
]

# (text, [(surface, label), ...]) with the surfaces in text order.
HANDWRITTEN_GOLD: list[tuple[str, list[tuple[str, str]]]] = [
    ("heard Norvia paid 251 usd/t fob rouen for 30kt milling wheat 2h march, Kestrel still bid 249",
     [("Norvia", "COUNTERPARTY"), ("paid", "SIDE"), ("251 usd/t", "PRICE"), ("fob", "INCOTERM"),
      ("rouen", "LOCATION"), ("30kt", "QUANTITY"), ("milling wheat", "COMMODITY"),
      ("2h march", "PERIOD"), ("Kestrel", "COUNTERPARTY"), ("bid", "SIDE"), ("249", "PRICE")]),
    ("brent feb27 traded 75.12 vs ice",
     [("brent", "COMMODITY"), ("feb27", "PERIOD"), ("traded", "SIDE"), ("75.12", "PRICE"),
      ("ice", "EXCHANGE")]),
    ("ttf cal27 offered 31.85 eur/mwh, q2 27 28.40 bid",
     [("ttf", "COMMODITY"), ("cal27", "PERIOD"), ("offered", "SIDE"), ("31.85 eur/mwh", "PRICE"),
      ("q2 27", "PERIOD"), ("28.40", "PRICE"), ("bid", "SIDE")]),
    ("cbot corn z5 4.38 3/4 offered, soybeans f6 10.62 bid",
     [("cbot", "EXCHANGE"), ("corn", "COMMODITY"), ("z5", "PERIOD"), ("4.38 3/4", "PRICE"),
      ("offered", "SIDE"), ("soybeans", "COMMODITY"), ("f6", "PERIOD"), ("10.62", "PRICE"),
      ("bid", "SIDE")]),
    ("coal api2 cal28 paid 96.75, 5 lots",
     [("coal", "COMMODITY"), ("api2", "COMMODITY"), ("cal28", "PERIOD"), ("paid", "SIDE"),
      ("96.75", "PRICE"), ("5 lots", "QUANTITY")]),
    ("LME copper 3m offered 9,912 at the close, Falkner Metals on the bid at 9,905",
     [("LME", "EXCHANGE"), ("copper", "COMMODITY"), ("3m", "PERIOD"), ("offered", "SIDE"),
      ("9,912", "PRICE"), ("Falkner Metals", "COUNTERPARTY"), ("bid", "SIDE"),
      ("9,905", "PRICE")]),
    ("sunflower oil 44k mt cif india dec/jan, sellers at 1,075 usd/t",
     [("sunflower oil", "COMMODITY"), ("44k mt", "QUANTITY"), ("cif", "INCOTERM"),
      ("india", "LOCATION"), ("dec/jan", "PERIOD"), ("1,075 usd/t", "PRICE")]),
    ("gasoil fob ara 15-20 nov 698 bid, Aldmark offering 703",
     [("gasoil", "COMMODITY"), ("fob", "INCOTERM"), ("ara", "LOCATION"), ("15-20 nov", "PERIOD"),
      ("698", "PRICE"), ("bid", "SIDE"), ("Aldmark", "COUNTERPARTY"), ("offering", "SIDE"),
      ("703", "PRICE")]),
    ("wheat bid +12 over matif mar fob dunkirk, offers +18",
     [("wheat", "COMMODITY"), ("bid", "SIDE"), ("+12", "PRICE"), ("matif", "EXCHANGE"),
      ("mar", "PERIOD"), ("fob", "INCOTERM"), ("dunkirk", "LOCATION"), ("offers", "SIDE"),
      ("+18", "PRICE")]),
    ("anyone have naphtha cif nwe for 1h jan? heard Grisham Petroleum looking",
     [("naphtha", "COMMODITY"), ("cif", "INCOTERM"), ("nwe", "LOCATION"), ("1h jan", "PERIOD"),
      ("Grisham Petroleum", "COUNTERPARTY")]),
    ("German power Q1 peak 118.25/118.90, base 97.10 traded EEX",
     [("German power", "COMMODITY"), ("Q1", "PERIOD"), ("118.25/118.90", "PRICE"),
      ("97.10", "PRICE"), ("traded", "SIDE"), ("EEX", "EXCHANGE")]),
    ("HH MAR26 3.412 BID, APR 3.105 OFFERED",
     [("HH", "COMMODITY"), ("MAR26", "PERIOD"), ("3.412", "PRICE"), ("BID", "SIDE"),
      ("APR", "PERIOD"), ("3.105", "PRICE"), ("OFFERED", "SIDE")]),
    ("nickel cash 15,980 bid; aluminium 3m $2,461/t offered",
     [("nickel", "COMMODITY"), ("cash", "PERIOD"), ("15,980", "PRICE"), ("bid", "SIDE"),
      ("aluminium", "COMMODITY"), ("3m", "PERIOD"), ("$2,461/t", "PRICE"), ("offered", "SIDE")]),
    ("soybean meal cif rotterdam feb-apr 395 offered by Perrin Agro",
     [("soybean meal", "COMMODITY"), ("cif", "INCOTERM"), ("rotterdam", "LOCATION"),
      ("feb-apr", "PERIOD"), ("395", "PRICE"), ("offered", "SIDE"),
      ("Perrin Agro", "COUNTERPARTY")]),
    ("heard 2 cargoes ulsd fob usg 10-15 dec sold at nymex +4.5 c/gal",
     [("2 cargoes", "QUANTITY"), ("ulsd", "COMMODITY"), ("fob", "INCOTERM"),
      ("usg", "LOCATION"), ("10-15 dec", "PERIOD"), ("sold", "SIDE"), ("nymex", "EXCHANGE"),
      ("+4.5 c/gal", "PRICE")]),
    ("corn fob paranagua aug 188-190 $/t, not much interest",
     [("corn", "COMMODITY"), ("fob", "INCOTERM"), ("paranagua", "LOCATION"), ("aug", "PERIOD"),
      ("188-190 $/t", "PRICE")]),
    ("nbp day-ahead 88.9 p/th paid, wknd 84 bid",
     [("nbp", "COMMODITY"), ("day-ahead", "PERIOD"), ("88.9 p/th", "PRICE"), ("paid", "SIDE"),
      ("wknd", "PERIOD"), ("84", "PRICE"), ("bid", "SIDE")]),
    ("Brenvik lifted 600kb forties 12-14 jan at dated +0.95",
     [("Brenvik", "COUNTERPARTY"), ("lifted", "SIDE"), ("600kb", "QUANTITY"),
      ("forties", "COMMODITY"), ("12-14 jan", "PERIOD"), ("+0.95", "PRICE")]),
    ("zinc spot premium rotterdam 160-170 usd/t, unchanged",
     [("zinc", "COMMODITY"), ("spot", "PERIOD"), ("rotterdam", "LOCATION"),
      ("160-170 usd/t", "PRICE")]),
    ("rapeseed euronext feb 478.25 given, may 472",
     [("rapeseed", "COMMODITY"), ("euronext", "EXCHANGE"), ("feb", "PERIOD"),
      ("478.25", "PRICE"), ("given", "SIDE"), ("may", "PERIOD"), ("472", "PRICE")]),
    ("capesize tubarao-qingdao oct $21.40/t bid",
     [("capesize", "COMMODITY"), ("tubarao", "LOCATION"), ("qingdao", "LOCATION"),
      ("oct", "PERIOD"), ("$21.40/t", "PRICE"), ("bid", "SIDE")]),
    ("feed barley cif spain nov, 40k mt, Istra Grains hit 219",
     [("feed barley", "COMMODITY"), ("cif", "INCOTERM"), ("spain", "LOCATION"),
      ("nov", "PERIOD"), ("40k mt", "QUANTITY"), ("Istra Grains", "COUNTERPARTY"),
      ("hit", "SIDE"), ("219", "PRICE")]),
    ("morning. hrd Tarsis sold 25kt sfo fob novo 1,072.50 oct, Zelenko Agro bid 1,065 nov/dec, "
     "nothing on the screen for jan",
     [("Tarsis", "COUNTERPARTY"), ("sold", "SIDE"), ("25kt", "QUANTITY"), ("sfo", "COMMODITY"),
      ("fob", "INCOTERM"), ("novo", "LOCATION"), ("1,072.50", "PRICE"), ("oct", "PERIOD"),
      ("Zelenko Agro", "COUNTERPARTY"), ("bid", "SIDE"), ("1,065", "PRICE"),
      ("nov/dec", "PERIOD"), ("jan", "PERIOD")]),
    ("NBP Q1 sold 97.25p, TTF Q1 traded 36.10 EUR/MWh on ICE",
     [("NBP", "COMMODITY"), ("Q1", "PERIOD"), ("sold", "SIDE"), ("97.25p", "PRICE"),
      ("TTF", "COMMODITY"), ("Q1", "PERIOD"), ("traded", "SIDE"), ("36.10 EUR/MWh", "PRICE"),
      ("ICE", "EXCHANGE")]),
    ("wheat matif mar/may spread -3.25 traded 2x, rouen fob +8 over mar bid",
     [("wheat", "COMMODITY"), ("matif", "EXCHANGE"), ("mar/may", "PERIOD"), ("-3.25", "PRICE"),
      ("traded", "SIDE"), ("rouen", "LOCATION"), ("fob", "INCOTERM"), ("+8", "PRICE"),
      ("mar", "PERIOD"), ("bid", "SIDE")]),
    ("anyone know who bought the egypt wheat tender? heard 60kt at 247.80 cnf, 2 cargoes black "
     "sea origin",
     [("bought", "SIDE"), ("egypt", "LOCATION"), ("wheat", "COMMODITY"), ("60kt", "QUANTITY"),
      ("247.80", "PRICE"), ("cnf", "INCOTERM"), ("2 cargoes", "QUANTITY"),
      ("black sea", "LOCATION")]),
    ("LME 3M COPPER 9,877-9,882 ZINC 2,781 ALU 2,402 NICKEL 16,150",
     [("LME", "EXCHANGE"), ("3M", "PERIOD"), ("COPPER", "COMMODITY"), ("9,877-9,882", "PRICE"),
      ("ZINC", "COMMODITY"), ("2,781", "PRICE"), ("ALU", "COMMODITY"), ("2,402", "PRICE"),
      ("NICKEL", "COMMODITY"), ("16,150", "PRICE")]),
    ("jet cif nwe cargoes +42 vs ice gasoil dec, jet fob ara barges +38/t",
     [("jet", "COMMODITY"), ("cif", "INCOTERM"), ("nwe", "LOCATION"), ("+42", "PRICE"),
      ("ice", "EXCHANGE"), ("gasoil", "COMMODITY"), ("dec", "PERIOD"), ("jet", "COMMODITY"),
      ("fob", "INCOTERM"), ("ara", "LOCATION"), ("+38/t", "PRICE")]),
    ("german power cal-27 base 84.10/84.25, peak 101.50 offered, thin. Jorvik paid 10mw at 84.20",
     [("german power", "COMMODITY"), ("cal-27", "PERIOD"), ("84.10/84.25", "PRICE"),
      ("101.50", "PRICE"), ("offered", "SIDE"), ("Jorvik", "COUNTERPARTY"), ("paid", "SIDE"),
      ("10mw", "QUANTITY"), ("84.20", "PRICE")]),
    ("api2 cal27 98.50 bid, cal28 95.75 offered; coal fob richards bay q1 89 traded, 50kt",
     [("api2", "COMMODITY"), ("cal27", "PERIOD"), ("98.50", "PRICE"), ("bid", "SIDE"),
      ("cal28", "PERIOD"), ("95.75", "PRICE"), ("offered", "SIDE"), ("coal", "COMMODITY"),
      ("fob", "INCOTERM"), ("richards bay", "LOCATION"), ("q1", "PERIOD"), ("89", "PRICE"),
      ("traded", "SIDE"), ("50kt", "QUANTITY")]),
    ("no offers in soymeal up river, bids at +10 over cbot k, thin",
     [("offers", "SIDE"), ("soymeal", "COMMODITY"), ("up river", "LOCATION"), ("bids", "SIDE"),
      ("+10", "PRICE"), ("cbot", "EXCHANGE"), ("k", "PERIOD")]),
    ("Forties dated +0.35 for 1-10 mar loading, Urals -11.40, nobody showing CPC Blend",
     [("Forties", "COMMODITY"), ("+0.35", "PRICE"), ("1-10 mar", "PERIOD"),
      ("Urals", "COMMODITY"), ("-11.40", "PRICE"), ("CPC Blend", "COMMODITY")]),
    ("HH F6 3.912 last, G6 3.67, winter strip ~3.55",
     [("HH", "COMMODITY"), ("F6", "PERIOD"), ("3.912", "PRICE"), ("G6", "PERIOD"),
      ("3.67", "PRICE"), ("winter strip", "PERIOD"), ("~3.55", "PRICE")]),
    ("eua dec26 70.85 paid 500kt, thin",
     [("eua", "COMMODITY"), ("dec26", "PERIOD"), ("70.85", "PRICE"), ("paid", "SIDE"),
      ("500kt", "QUANTITY")]),
    ("heard Grisham Petroleum lifted vlsfo sing 40kt 2h feb at +6 to mops",
     [("Grisham Petroleum", "COUNTERPARTY"), ("lifted", "SIDE"), ("vlsfo", "COMMODITY"),
      ("sing", "LOCATION"), ("40kt", "QUANTITY"), ("2h feb", "PERIOD"), ("+6", "PRICE")]),
    ("corn fob santos feb: 209 bid / 213 offered, 60kt, Istra Grains seller",
     [("corn", "COMMODITY"), ("fob", "INCOTERM"), ("santos", "LOCATION"), ("feb", "PERIOD"),
      ("209", "PRICE"), ("bid", "SIDE"), ("213", "PRICE"), ("offered", "SIDE"),
      ("60kt", "QUANTITY"), ("Istra Grains", "COUNTERPARTY")]),
]  # fmt: skip


def annotate(text: str, marks: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Place (surface, label) marks in text order; each must be found after the previous one."""
    spans, pos = [], 0
    for surface, label in marks:
        i = text.find(surface, pos)
        if i < 0:
            raise ValueError(f"{surface!r} not found after {pos} in {text!r}")
        spans.append({"start": i, "end": i + len(surface), "label": label})
        pos = i + len(surface)
    return spans


# ---------------------------------------------------------------------------------------------
# Output, review and checks


def build() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    pool, gold, _ = build_with_answers()
    return pool, gold


def build_with_answers() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The pool, the gold set, and the spans the generator put into the generated pool texts
    (a stand-in LLM's answer key for a try-out; the hand-written pool texts have none)."""
    answers: list[dict[str, Any]] = []
    pool: list[dict[str, Any]] = []
    for i, text in enumerate(HANDWRITTEN_POOL):
        pool.append({"text": text, "meta": {"id": f"h{i + 1:03d}", "source": "hand"}})
    gold_hand = [text for text, _ in HANDWRITTEN_GOLD]
    taken = {t.lower() for t in HANDWRITTEN_POOL + gold_hand}
    for i, (text, spans, sector) in enumerate(generate(POOL_SEED, N_POOL_GENERATED, taken)):
        meta = {"id": f"t{i + 1:03d}", "source": "generated", "sector": sector}
        pool.append({"text": text, "meta": meta})
        answers.append({"text": text, "spans": spans})
    taken |= {r["text"].lower() for r in pool}
    gold: list[dict[str, Any]] = []
    for i, (text, marks) in enumerate(HANDWRITTEN_GOLD):
        meta = {"id": f"gh{i + 1:03d}", "source": "hand"}
        gold.append({"text": text, "spans": annotate(text, marks), "meta": meta})
    for i, (text, spans, sector) in enumerate(generate(GOLD_SEED, N_GOLD_GENERATED, taken)):
        meta = {"id": f"g{i + 1:03d}", "source": "generated", "sector": sector}
        gold.append({"text": text, "spans": spans, "meta": meta})
    answers += [{"text": r["text"], "spans": r["spans"]} for r in gold]
    return pool, gold, answers


def marked(record: dict[str, Any]) -> str:
    text: str = record["text"]
    out, pos = "", 0
    for s in sorted(record["spans"], key=lambda s: s["start"]):
        out += text[pos : s["start"]] + f"[{text[s['start'] : s['end']]}|{s['label']}]"
        pos = s["end"]
    return out + text[pos:]


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def main(argv: list[str]) -> int:
    pool, gold, answers = build_with_answers()
    if "--answers" in argv:
        # For a try-out without an LLM: tests/helpers/fake_llm.py --gold FILE answers from these.
        path = Path(argv[argv.index("--answers") + 1])
        write_jsonl(path, answers)
        print(f"wrote {len(answers)} texts with their spans to {path}")
        return 0
    if "--show" in argv:
        for r in gold:
            print(f"{r['meta']['id']:>6}  {marked(r)}")
        return 0
    write_jsonl(HERE / "texts.jsonl", pool)
    write_jsonl(HERE / "gold.jsonl", gold)
    print(f"wrote {len(pool)} texts and {len(gold)} gold records to {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
