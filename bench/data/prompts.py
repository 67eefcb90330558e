"""The authors' prompt text, rendered from samples.

Items without an author (movies) render as `"Title (year)"`; items with one (books) as
`"Title" written by Author`, and such a target is wrapped in one more pair of quotes, exactly as in
the released JSON files. The item noun ("movie", "book", "product") comes from the domain's card.
The Alpaca template is the one the TALLRec authors train and score with.
"""

from __future__ import annotations

from bench.data.samples import Item, Sample

INSTRUCTION = (
    "Given the user's preference and unpreference, identify whether the user will like the target "
    '{noun} by answering "Yes." or "No.".'
)

ANSWERS = {1: "Yes.", 0: "No."}

# The authors' template, literally: their generate_prompt (finetune_rec.py, evaluate.py) carries a
# linter comment *inside* the string, inherited from alpaca-lora, so every prompt they trained and
# scored holds that linter comment after the first sentence. Kept, so scores reproduce theirs.
ALPACA_TEMPLATE = (
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request.  # noqa: E501\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)


def item_text(item: Item) -> str:
    """How an item is named inside a prompt (without the surrounding list quotes for movies)."""
    if item.author is None:
        return item.title
    return f'"{item.title}" written by {item.author}'


def _listed(item: Item) -> str:
    return f'"{item.title}"' if item.author is None else item_text(item)


def instruction(noun: str) -> str:
    """The task sentence; `noun` is the domain's item noun (`Sample.noun`, from its card)."""
    return INSTRUCTION.format(noun=noun)


def input_text(sample: Sample) -> str:
    """The `input` field of the authors' JSON for this sample."""
    liked = ", ".join(_listed(i) for i in sample.liked_items)
    disliked = ", ".join(_listed(i) for i in sample.disliked_items)
    note = f"{sample.note}\n" if sample.note else ""  # an LM option's extra line, never in the authors' files
    return (
        f"User Preference: {liked}\n"
        f"User Unpreference: {disliked}\n"
        f"{note}"
        f'Whether the user will like the target {sample.noun} "{item_text(sample.target)}"?'
    )


def as_tallrec_record(sample: Sample) -> dict[str, str]:
    """The sample as one record of the authors' JSON files (key order as theirs)."""
    return {
        "instruction": instruction(sample.noun),
        "input": input_text(sample),
        "output": ANSWERS[sample.label],
    }


def alpaca_prompt(sample: Sample) -> str:
    """The full prompt an LM scores; its next token is the answer."""
    return ALPACA_TEMPLATE.format(instruction=instruction(sample.noun), input=input_text(sample))


def preamble(noun: str) -> str:
    """The text every prompt about `noun` items starts with (everything before the input): the LM scorer
    runs it once per call instead of once per prompt."""
    return ALPACA_TEMPLATE[: ALPACA_TEMPLATE.index("{input}")].format(instruction=instruction(noun))
