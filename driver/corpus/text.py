"""A generator of varied, phonetically rich English sentences (no downloads).

Sentences are built from small hand-written word lists and clause templates. The lists are
chosen so every ARPAbet phone occurs in many contexts (zh in "measure", oy in "noisy", the
th/dh pair, ng, clusters such as "str"/"spl"), and the generator mixes statements, questions,
lists, numbers, fillers ("um", "you know") and punctuation pauses so the TTS engines produce
phrase breaks. `sentence_set` seeds separate streams: the held-out test set draws from a seed
that training never uses, so no test sentence is a training sentence.
"""
from __future__ import annotations

import random

NAMES = ["Bob", "Maggie", "Peter", "Zoe", "Theo", "Judith", "Vivian", "George", "Shauna",
         "Hugo", "Joy", "Martha", "Boyd", "Ruth", "Yusuf", "Fiona", "Nigel", "Bethany", "Wes",
         "Chuck", "Priya", "Ethan", "Lloyd", "Paula", "Quentin", "Xavier", "Imogen", "Owen"]
NOUNS = ["boat", "measure", "treasure", "garage", "vision", "beige couch", "thimble", "feather",
         "mouthwash", "pumpkin", "zebra", "bubble", "muffin", "jigsaw", "shoe", "watch",
         "yellow pillow", "oyster", "noise", "voyage", "bridge", "church", "sandwich", "thumb",
         "rhythm", "baby", "puppy", "mirror", "window", "moon", "pool", "book", "cookie",
         "umbrella", "orange", "apple", "engine", "ring", "song", "king", "jungle", "bottle",
         "whistle", "fox", "box", "queen", "choir", "azure sky", "television", "leisure",
         "map", "lamp", "rope", "globe", "wave", "fish", "van", "violin", "coffee", "path",
         "thought", "breath", "bath", "tooth", "mouth", "clothes", "weather", "father", "mother",
         "brother", "ship", "sheep", "chip", "cheap", "judge", "badge", "hedge", "photo",
         "phone", "bamboo", "mob", "lobby", "hymn", "comb", "plum", "scheme", "strap", "splash",
         "sprout", "squirrel", "spring", "strength", "sixth", "twelfth", "crayon", "toy",
         "coin", "cow", "house", "tower", "tiger", "island", "bread", "red pepper", "blue bird",
         "potato", "tomato", "cabbage", "pebble", "marble", "bumblebee", "wolf", "goose",
         "foot", "cook", "sugar", "butter", "kettle", "candle", "needle", "paddle", "pearl",
         "bird", "nurse", "work", "dog", "cat", "hat", "car", "star", "door", "floor", "bear",
         "chair", "ear", "deer", "tour", "poor fool", "wheel", "whale", "yacht", "yard"]
VERBS_PAST = ["bought", "brought", "fixed", "measured", "moved", "pushed", "pulled", "painted",
              "washed", "watched", "chose", "found", "thought about", "borrowed", "buried",
              "dropped", "grabbed", "hugged", "judged", "mopped", "polished", "rubbed", "shaped",
              "smashed", "sipped", "stopped", "wrapped", "zipped", "enjoyed", "avoided",
              "loved", "owed", "showed", "threw", "knew", "used", "viewed", "vowed", "sold",
              "cooked", "booked", "hooked", "fetched", "matched", "splashed", "squeezed",
              "stretched", "thanked", "bathed", "soothed", "breathed on", "ate", "eyed",
              "carried", "hid", "kept", "lost", "made", "named", "opened", "closed", "packed"]
ADJECTIVES = ["big", "small", "beautiful", "purple", "pink", "smooth", "rough", "thick",
              "thin", "cheap", "huge", "usual", "unusual", "joyful", "noisy", "boiled", "brown",
              "proud", "loud", "old", "cold", "bold", "blue", "true", "new", "few", "funny",
              "fuzzy", "bumpy", "muddy", "shiny", "soggy", "pleasant", "measured", "casual",
              "visual", "azure", "genuine", "gentle", "jolly", "lovely", "every", "awful",
              "ugly", "quick", "quiet", "vivid", "wobbly", "yellow", "zany", "mighty", "heavy",
              "warm", "wet", "wild", "white", "black", "green", "strange", "sharp", "shabby"]
ADVERBS = ["quickly", "slowly", "happily", "bravely", "quietly", "usually", "probably",
           "obviously", "thoroughly", "smoothly", "gently", "boldly", "barely", "mostly",
           "actually", "frankly", "vaguely", "joyfully", "visually", "sharply", "warmly"]
PLACES = ["in the garage", "by the bridge", "at the church", "near the beach", "on the boat",
          "under the bed", "behind the house", "at the zoo", "in the garden", "on the roof",
          "by the fountain", "in the jungle", "at the museum", "near the pub", "in the bathtub",
          "on the beige couch", "at the theatre", "with my mother", "without a thought",
          "through the window", "beyond the moor", "among the pebbles", "above the clouds"]
TIMES = ["yesterday", "this morning", "on Thursday", "last week", "every evening", "at noon",
         "at midnight", "in June", "in the autumn", "twice a month", "before breakfast",
         "after the show", "on the sixth of May", "at three thirty", "since February"]
FILLERS = ["um,", "uh,", "well,", "you know,", "so,", "like,", "I mean,", "oh,", "hmm,",
           "okay,", "right,", "actually,", "look,"]
INTERJECTIONS = ["Oh boy!", "Wow!", "Yes.", "No.", "Hmm.", "Okay.", "Mm hmm.", "Oops!", "Bye!",
                 "Thanks!", "Really?", "Maybe.", "Of course.", "Bravo!", "Whoa!", "Ahh.",
                 "Pardon?", "Bless you.", "Good job!", "Hello there."]
NUMBERS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
           "eleven", "twelve", "thirteen", "forty", "fifty five", "ninety nine",
           "a hundred", "a thousand", "zero", "seventy seven", "two hundred and six"]


# Target word counts: ~1 s ("Oops!") to ~12 s of speech at TTS speaking rates.
LENGTH_WORDS = (2, 3, 4, 6, 8, 10, 12, 15, 18, 21, 24, 27)


def _plural(noun: str) -> str:
    return noun + ("es" if noun.endswith(("s", "sh", "ch", "x", "z")) else "s")


def _noun(rng: random.Random) -> str:
    noun = rng.choice(NOUNS)
    if rng.random() < 0.5:
        noun = f"{rng.choice(ADJECTIVES)} {noun}"
    return f"{rng.choice(['the', 'a', 'my', 'his', 'her', 'our', 'that', 'this', 'every'])} {noun}"


def _clause(rng: random.Random) -> str:
    """One clause from a template; each template favours different phone contexts."""
    kind = rng.randrange(10)
    name, other = rng.choice(NAMES), rng.choice(NAMES)
    if kind == 0:
        return f"{name} {rng.choice(VERBS_PAST)} {_noun(rng)} {rng.choice(PLACES)}"
    if kind == 1:
        return f"{rng.choice(TIMES)} {name} {rng.choice(ADVERBS)} {rng.choice(VERBS_PAST)} {_noun(rng)}"
    if kind == 2:
        return f"did {name} really say that {_noun(rng)} was {rng.choice(ADJECTIVES)}?"
    if kind == 3:
        items = [_noun(rng) for _ in range(rng.randint(2, 4))]
        return f"we need {', '.join(items[:-1])} and {items[-1]}"
    if kind == 4:
        return (f"{rng.choice(NUMBERS)} {rng.choice(ADJECTIVES)} {_plural(rng.choice(NOUNS))} "
                f"{rng.choice(['were', 'are', 'will be'])} {rng.choice(PLACES)}")
    if kind == 5:
        return f"please ask {other} to bring {_noun(rng)} {rng.choice(TIMES)}"
    if kind == 6:
        return f"why would {name} put {_noun(rng)} {rng.choice(PLACES)}?"
    if kind == 7:
        return (f"the {rng.choice(NOUNS)} that {name} {rng.choice(VERBS_PAST)} was "
                f"{rng.choice(ADVERBS)} {rng.choice(ADJECTIVES)}")
    if kind == 8:
        return f"I think {name} and {other} {rng.choice(VERBS_PAST)} {_noun(rng)}"
    return f"{rng.choice(INTERJECTIONS)} {name} {rng.choice(VERBS_PAST)} it {rng.choice(TIMES)}"


def make_sentence(rng: random.Random, target_words: int) -> str:
    """Clauses (with optional fillers and pauses) until about `target_words` words."""
    if target_words <= 3:
        pick = rng.random()
        if pick < 0.5:
            return rng.choice(INTERJECTIONS)
        if pick < 0.8:
            return f"{rng.choice(NAMES)}, {rng.choice(INTERJECTIONS).lower()}"
        return f"{rng.choice(FILLERS)} {rng.choice(NUMBERS)}."
    parts: list[str] = []
    words = 0
    while words < target_words:
        clause = _clause(rng)
        if rng.random() < 0.25:
            clause = f"{rng.choice(FILLERS)} {clause}"
        parts.append(clause)
        words += len(clause.split())
        if words >= target_words:
            break
        parts.append(rng.choice([",", ".", "...", ";", ". Then,", ", and", ", but", "."]))
    text = " ".join(parts)
    for mark in (" ,", " .", " ;", " ..."):
        text = text.replace(mark, mark.strip())
    text = text[0].upper() + text[1:]
    if text[-1] not in ".?!":
        text += rng.choice([".", ".", "!", "?"])
    return text


def sentences(sentence_set: str, count: int, seed: int = 0) -> list[str]:
    """`count` sentences of the named set; lengths spread over ~1–12 s of speech."""
    rng = random.Random(f"{sentence_set}:{seed}")
    return [make_sentence(rng, rng.choice(LENGTH_WORDS)) for _ in range(count)]
