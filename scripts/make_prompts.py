"""Generate the shipped prompt sets (src/judgelab/data/prompt_sets/*.jsonl) deterministically.

Reads nothing; writes ``creative-v1.jsonl``. The committed JSONL is the source of truth for runs;
this script documents how it was made and regenerates it byte-for-byte:

    python scripts/make_prompts.py            # rewrite the shipped file
    python scripts/make_prompts.py --check    # exit 1 if the committed file differs

Each family is topic list x requirement templates. Every requirement a template states in the
prompt text is also recorded, machine-checkable, in ``constraints`` (the rubric gold judge reads
them; see docs/gold_rubric.md). Prompts are short and the word bands small on purpose: the CPU
policy (SmolLM2-135M) gets 48-96 new tokens, i.e. roughly 35-70 words, so every band's upper
end is reachable -- and so is going past it.

Split: within each family, prompts are ordered by sha256(id) and every 5th is ``test``
(exactly 20% per family, fixed forever by the ids, independent of generation order); of the rest,
the last 4 per family in file order are ``val`` (tuning and in-training monitoring; 32 in all).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

OUT_DIR = Path(__file__).resolve().parents[1] / "src" / "judgelab" / "data" / "prompt_sets"
SET_NAME = "creative-v1"
SCHEMA = "judgelab.prompt/v1"

# ---------------------------------------------------------------------------------------------
# Topic lists. Each tuple's concrete words become required elements (must_include), so a good
# response has to actually be about the topic.
# ---------------------------------------------------------------------------------------------

POEM_TOPICS = [  # (subject, keyword, extra word)
    ("a lighthouse at night", "lighthouse", "salt"),
    ("an old oak tree in winter", "oak", "snow"),
    ("a city street after rain", "street", "puddle"),
    ("a cat sleeping in the sun", "cat", "window"),
    ("the first day of spring", "spring", "blossom"),
    ("a train leaving a station", "train", "whistle"),
    ("a grandmother's kitchen", "kitchen", "bread"),
    ("the ocean at dawn", "ocean", "gull"),
    ("a candle in a dark room", "candle", "shadow"),
    ("a mountain lake", "lake", "stone"),
    ("autumn leaves falling", "leaves", "wind"),
    ("a busy market", "market", "apples"),
    ("a lost key", "key", "pocket"),
    ("the moon over a farm", "moon", "barn"),
    ("a bicycle ride downhill", "bicycle", "bell"),
    ("a letter never sent", "letter", "ink"),
]

STORY_TOPICS = [  # (character name, role, setting, object)
    ("Mira", "a young baker", "a village by the sea", "lantern"),
    ("Tomas", "a retired sailor", "a quiet harbor town", "compass"),
    ("Lena", "a night-shift nurse", "a city hospital", "umbrella"),
    ("Arjun", "a curious boy", "his uncle's workshop", "clock"),
    ("Grace", "a beekeeper", "a hillside farm", "jar"),
    ("Felix", "a street musician", "a train station", "violin"),
    ("Noor", "a map maker", "a desert town", "feather"),
    ("Elias", "a lighthouse keeper", "a rocky island", "telescope"),
    ("Rosa", "a librarian", "an old library", "photograph"),
    ("Kenji", "a fisherman", "a frozen lake", "rope"),
    ("Ada", "an inventor", "a cluttered attic", "wrench"),
    ("Omar", "a taxi driver", "a rainy city", "wallet"),
    ("Ivy", "a gardener", "an abandoned greenhouse", "seed"),
    ("Hugo", "a mail carrier", "a mountain village", "parcel"),
    ("Sana", "a young pilot", "a small airfield", "scarf"),
    ("Paul", "a night watchman", "a museum", "painting"),
]

PRODUCTS = [  # (product, feature keyword, audience, price)
    ("a steel water bottle", "insulated", "hikers", "$24"),
    ("a wooden desk lamp", "dimmer", "students", "$39"),
    ("a pair of running shoes", "cushioning", "runners", "$89"),
    ("a cast iron pan", "seasoned", "home cooks", "$45"),
    ("a wool blanket", "wool", "families", "$60"),
    ("a folding bicycle", "lightweight", "commuters", "$350"),
    ("a ceramic teapot", "ceramic", "tea lovers", "$32"),
    ("a waterproof backpack", "waterproof", "travelers", "$70"),
    ("a mechanical keyboard", "keys", "writers", "$95"),
    ("a garden hose", "nozzle", "gardeners", "$28"),
    ("a reading chair", "cushion", "readers", "$240"),
    ("a kids' raincoat", "hood", "parents", "$35"),
    ("a camping tent", "poles", "campers", "$150"),
    ("a bread knife", "blade", "bakers", "$22"),
    ("a houseplant pot", "drainage", "plant owners", "$18"),
    ("a solar lantern", "solar", "campers", "$27"),
]

LETTERS = [  # (recipient, request, keyword, signer)
    ("the mayor", "build a bike lane on Main Street", "safety", "Jordan"),
    ("your neighbor", "keep their dog quiet at night", "sleep", "Sam"),
    ("the school principal", "start a school garden", "garden", "Priya"),
    ("your manager", "allow working from home on Fridays", "focus", "Alex"),
    ("the city council", "keep the public library open on Sundays", "library", "Maria"),
    ("your landlord", "fix the broken heater", "heater", "Chris"),
    ("a local bakery", "donate bread to the shelter", "shelter", "Dana"),
    ("the park director", "add more benches to the park", "benches", "Lee"),
    ("your team", "volunteer at the beach cleanup", "beach", "Nina"),
    ("the editor of the local paper", "cover the youth orchestra", "orchestra", "Ravi"),
    ("the bus company", "add a late-night bus", "bus", "Tess"),
    ("your school", "add a recycling program", "recycling", "Ben"),
    ("a museum", "offer free entry for students", "students", "Olga"),
    ("your grandparents", "visit for the summer", "summer", "Leo"),
    ("the zoo", "build a bigger home for the elephants", "elephants", "Ana"),
    ("a restaurant owner", "add vegetarian dishes to the menu", "vegetarian", "Kim"),
]

ADVICE_TOPICS = [  # (topic, situation, keyword)
    ("sleeping better", "cannot fall asleep at night", "bedtime"),
    ("saving money", "spends too much each month", "budget"),
    ("learning to cook", "only eats takeout", "recipe"),
    ("studying for exams", "has an exam next week", "notes"),
    ("making new friends", "just moved to a new city", "club"),
    ("starting to run", "wants to get fit", "shoes"),
    ("keeping houseplants alive", "keeps killing their plants", "water"),
    ("public speaking", "is nervous about a speech", "practice"),
    ("staying focused", "gets distracted by their phone", "phone"),
    ("packing for a trip", "always forgets things when traveling", "list"),
    ("writing a cover letter", "is applying for a first job", "skills"),
    ("drinking more water", "forgets to drink during the day", "bottle"),
    ("learning a language", "wants to learn Spanish", "words"),
    ("keeping a tidy room", "has a messy bedroom", "shelf"),
    ("getting up early", "oversleeps every morning", "alarm"),
    ("cooking for guests", "is hosting a dinner party", "menu"),
]

CONCEPTS = [  # (concept, keyword, example subject, example keyword)
    ("why the sky is blue", "light", "a glass prism", "prism"),
    ("how plants make food", "sunlight", "a sunflower", "leaves"),
    ("what gravity is", "gravity", "dropping a ball", "ball"),
    ("why we have seasons", "sun", "a spinning top", "tilt"),
    ("how rainbows form", "rain", "a garden hose", "drops"),
    ("what electricity is", "electricity", "a light switch", "switch"),
    ("why ice floats", "ice", "ice cubes in a drink", "water"),
    ("how bees make honey", "bees", "a flower garden", "nectar"),
    ("what a volcano is", "volcano", "a shaken soda bottle", "lava"),
    ("why the moon changes shape", "moon", "a flashlight and a ball", "shadow"),
    ("how a seed grows", "seed", "a bean in a cup", "roots"),
    ("what germs are", "germs", "washing hands", "soap"),
    ("why we need sleep", "sleep", "charging a phone", "brain"),
    ("how airplanes fly", "wings", "a paper airplane", "air"),
    ("what recycling is", "recycling", "an old bottle", "bottle"),
    ("how the heart works", "heart", "a water pump", "blood"),
]

THANKS = [  # (recipient, what they did, keyword)
    ("your teacher", "helping you with math all year", "math"),
    ("your aunt", "the knitted scarf she sent", "scarf"),
    ("a neighbor", "watering your plants while you were away", "plants"),
    ("your coach", "a great soccer season", "season"),
    ("a friend", "helping you move house", "boxes"),
    ("your grandfather", "teaching you to fish", "fishing"),
    ("a nurse", "caring for you in hospital", "care"),
    ("a colleague", "covering your shift", "shift"),
    ("your host family", "a week of dinners", "dinners"),
    ("a librarian", "finding a rare book for you", "book"),
    ("your sister", "the birthday cake she baked", "cake"),
    ("a mentor", "advice on your first job", "advice"),
    ("the firefighters", "visiting your class", "class"),
    ("your uncle", "lending you his tent", "tent"),
    ("a stranger", "returning your lost wallet", "wallet"),
    ("your piano teacher", "preparing you for the recital", "recital"),
]

PLACES = [  # (place, sound word, color/visual word)
    ("a harbor at sunrise", "gulls", "orange"),
    ("a forest after a storm", "dripping", "green"),
    ("a night market", "sizzling", "lanterns"),
    ("a school hallway before class", "lockers", "yellow"),
    ("a snowy village", "bells", "white"),
    ("a desert at noon", "wind", "sand"),
    ("a train platform at night", "announcements", "lights"),
    ("a beach in winter", "waves", "gray"),
    ("a bakery at dawn", "oven", "golden"),
    ("a library reading room", "pages", "wood"),
    ("a farm in summer", "cows", "fields"),
    ("a rooftop garden", "traffic", "tomatoes"),
    ("an empty stadium", "echo", "seats"),
    ("a fishing boat", "engine", "nets"),
    ("a rainy bus stop", "rain", "umbrellas"),
    ("a mountain cabin", "fire", "logs"),
]


def _poem(rows: list[dict[str, Any]]) -> None:
    for subject, kw, extra in POEM_TOPICS:
        rows.append(_rec("poem", f"{kw}-4", f'Write a 4-line poem about {subject}. Use the word "{kw}".',
                         {"form": "poem", "lines": 4, "min_words": 12, "max_words": 40, "must_include": [kw]}))
        rows.append(_rec("poem", f"{kw}-6", f'Write a 6-line poem about {subject}. Use the words "{kw}" and "{extra}".',
                         {"form": "poem", "lines": 6, "min_words": 18, "max_words": 60, "must_include": [kw, extra]}))
        rows.append(_rec("poem", f"{kw}-short",
                         f'Write a short poem of exactly 3 lines about {subject}. Mention "{extra}". At most 30 words.',
                         {"form": "poem", "lines": 3, "min_words": 9, "max_words": 30, "must_include": [extra]}))


def _story(rows: list[dict[str, Any]]) -> None:
    for name, role, setting, obj in STORY_TOPICS:
        rows.append(_rec("story_opening", f"{name.lower()}-obj",
                         f"Write the opening of a story about {name}, {role} in {setting}, in 40 to 70 words. "
                         f'Mention a "{obj}".',
                         {"form": "prose", "min_words": 40, "max_words": 70, "must_include": [name, obj]}))
        rows.append(_rec("story_opening", f"{name.lower()}-first",
                         f"Begin a story set in {setting}. Name the main character, {name}, in the first sentence. "
                         "Use 30 to 60 words.",
                         {"form": "prose", "min_words": 30, "max_words": 60, "must_include": [name],
                          "first_sentence_includes": [name]}))
        rows.append(_rec("story_opening", f"{name.lower()}-nodialogue",
                         f'Write the first paragraph of a mystery set in {setting} involving a "{obj}". '
                         "No dialogue. 40 to 70 words.",
                         {"form": "prose", "min_words": 40, "max_words": 70, "must_include": [obj],
                          "no_dialogue": True}))


def _product(rows: list[dict[str, Any]]) -> None:
    for product, feature, audience, price in PRODUCTS:
        slug = feature.replace(" ", "-")
        rows.append(_rec("product_description", f"{slug}-feature",
                         f'Write a product description for {product} in 30 to 60 words. Mention "{feature}".',
                         {"form": "prose", "min_words": 30, "max_words": 60, "must_include": [feature]}))
        rows.append(_rec("product_description", f"{slug}-price",
                         f"Describe {product} for {audience} in under 50 words. State the price, {price}.",
                         {"form": "prose", "min_words": 20, "max_words": 50, "must_include": [price]}))
        rows.append(_rec("product_description", f"{slug}-bullets",
                         f'Describe {product} as a list of 3 bullet points. Mention "{feature}".',
                         {"form": "list", "items": 3, "min_words": 15, "max_words": 50, "must_include": [feature]}))


def _letter(rows: list[dict[str, Any]]) -> None:
    for recipient, ask, kw, signer in LETTERS:
        slug = kw.replace(" ", "-")
        rows.append(_rec("persuasive_letter", f"{slug}-dear",
                         f'Write a short letter to {recipient} asking them to {ask}. Start with "Dear" and '
                         "use 40 to 80 words.",
                         {"form": "letter", "starts_with": "Dear", "min_words": 40, "max_words": 80}))
        rows.append(_rec("persuasive_letter", f"{slug}-signed",
                         f"Write a short letter to {recipient} asking them to {ask}. Give two reasons and sign it "
                         f"{signer}. At most 80 words.",
                         {"form": "letter", "min_words": 35, "max_words": 80, "must_include": [signer]}))
        rows.append(_rec("persuasive_letter", f"{slug}-word",
                         f'Write a persuasive note to {recipient} asking them to {ask}. Use the word "{kw}". '
                         "30 to 60 words.",
                         {"form": "letter", "min_words": 30, "max_words": 60, "must_include": [kw]}))


def _advice(rows: list[dict[str, Any]]) -> None:
    for i, (topic, situation, kw) in enumerate(ADVICE_TOPICS):
        slug = kw.replace(" ", "-")
        n = 3 if i % 2 == 0 else 4
        rows.append(_rec("advice", f"{slug}-list", f"Give {n} tips for {topic} as a numbered list.",
                         {"form": "list", "items": n, "min_words": 6 * n, "max_words": 18 * n}))
        rows.append(_rec("advice", f"{slug}-prose",
                         f'Give advice to someone who {situation}, in 30 to 60 words. Mention "{kw}".',
                         {"form": "prose", "min_words": 30, "max_words": 60, "must_include": [kw]}))
        rows.append(_rec("advice", f"{slug}-short",
                         f'Give 3 short tips for {topic}, one sentence each, as a numbered list. Mention "{kw}".',
                         {"form": "list", "items": 3, "min_words": 15, "max_words": 50, "must_include": [kw]}))


def _child(rows: list[dict[str, Any]]) -> None:
    for concept, kw, example, ex_kw in CONCEPTS:
        slug = kw.replace(" ", "-")
        rows.append(_rec("explain_to_child", f"{slug}-five",
                         f'Explain {concept} to a five-year-old in 30 to 60 words. Use the word "{kw}".',
                         {"form": "prose", "audience": "child", "min_words": 30, "max_words": 60,
                          "must_include": [kw]}))
        rows.append(_rec("explain_to_child", f"{slug}-example",
                         f'Explain {concept} to a child using {example} as an example. Mention "{ex_kw}". '
                         "Under 70 words.",
                         {"form": "prose", "audience": "child", "min_words": 25, "max_words": 70,
                          "must_include": [ex_kw]}))
        rows.append(_rec("explain_to_child", f"{slug}-seven",
                         f'Explain {concept} to a seven-year-old in simple words, in under 50 words. Use the word "{kw}".',
                         {"form": "prose", "audience": "child", "min_words": 20, "max_words": 50,
                          "must_include": [kw]}))


def _thanks(rows: list[dict[str, Any]]) -> None:
    for recipient, what, kw in THANKS:
        slug = kw.replace(" ", "-")
        rows.append(_rec("thank_you_note", f"{slug}-dear",
                         f'Write a thank-you note to {recipient} for {what}. Start with "Dear" and mention "{kw}". 30 to 60 words.',
                         {"form": "letter", "starts_with": "Dear", "min_words": 30, "max_words": 60,
                          "must_include": [kw]}))
        rows.append(_rec("thank_you_note", f"{slug}-short",
                         f'Write a short thank-you note to {recipient} for {what}, in under 40 words. Mention "{kw}".',
                         {"form": "prose", "min_words": 15, "max_words": 40, "must_include": [kw]}))
        rows.append(_rec("thank_you_note", f"{slug}-detail",
                         f'Thank {recipient} for {what} in 40 to 70 words, with one specific memory. Mention "{kw}".',
                         {"form": "prose", "min_words": 40, "max_words": 70, "must_include": [kw]}))


def _scene(rows: list[dict[str, Any]]) -> None:
    for place, sound, visual in PLACES:
        slug = place.split()[1] if place.split()[0] in {"a", "an"} else place.split()[0]
        rows.append(_rec("scene_description", f"{slug}-{sound}",
                         f'Describe {place} in 30 to 60 words. Mention the "{sound}" and the "{visual}".',
                         {"form": "prose", "min_words": 30, "max_words": 60, "must_include": [sound, visual]}))
        rows.append(_rec("scene_description", f"{slug}-present",
                         f'Describe {place} in the present tense, in under 50 words. Include "{visual}".',
                         {"form": "prose", "min_words": 20, "max_words": 50, "must_include": [visual]}))
        rows.append(_rec("scene_description", f"{slug}-lines",
                         f'Describe {place} in exactly 4 short lines. Include "{sound}".',
                         {"form": "poem", "lines": 4, "min_words": 12, "max_words": 48, "must_include": [sound]}))


def _rec(family: str, key: str, prompt: str, constraints: dict[str, Any]) -> dict[str, Any]:
    return {"schema": SCHEMA, "id": f"{family}/{key}", "family": family, "prompt": prompt, "split": "",
            "constraints": constraints}


def build() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for make in (_poem, _story, _product, _letter, _advice, _child, _thanks, _scene):
        make(rows)
    ids = [r["id"] for r in rows]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise SystemExit(f"duplicate ids: {sorted(dupes)}")
    # Fixed split: every 5th prompt of a family in sha256(id) order is test.
    by_family: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_family.setdefault(r["family"], []).append(r)
    for fam_rows in by_family.values():
        for rank, r in enumerate(sorted(fam_rows, key=lambda r: hashlib.sha256(r["id"].encode()).hexdigest())):
            r["split"] = "test" if rank % 5 == 4 else "train"
        # Validation: the last VAL_PER_FAMILY train prompts of the family in file order (selections
        # take prompts in file order, so every train selection up to 35 per family is unchanged).
        for r in [r for r in fam_rows if r["split"] == "train"][-VAL_PER_FAMILY:]:
            r["split"] = "val"
    return rows


VAL_PER_FAMILY = 4


def render(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=False) + "\n" for r in rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the shipped file is out of date")
    args = ap.parse_args()
    text = render(build())
    path = OUT_DIR / f"{SET_NAME}.jsonl"
    if args.check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            print(f"{path} is out of date; run python scripts/make_prompts.py", file=sys.stderr)
            return 1
        print(f"{path} is up to date")
        return 0
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    n_test = sum(1 for line in text.splitlines() if '"split": "test"' in line)
    n_val = sum(1 for line in text.splitlines() if '"split": "val"' in line)
    print(f"wrote {path}: {len(text.splitlines())} prompts ({n_test} test, {n_val} val)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
