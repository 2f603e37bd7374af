"""Each benchmark's prompt as VLMEvalKit builds it: the paper's "no custom prompt" protocol.

The paper evaluates with VLMEvalKit and no model-specific custom prompt, so the user turn is
whatever the dataset class's ``build_prompt`` returns as its text message. Read from
open-compass/VLMEvalKit (``vlmeval/dataset``, commit e8e78f0):

- MathVista, MathVision, LogicVista: no ``build_prompt`` of their own; the base class
  (``image_base.py: ImageBaseDataset.build_prompt``) sends the TSV's ``question`` column as is.
- MathVerse (``image_vqa.py: MathVerse.build_prompt``): ``query_cot`` for the ``*_cot``
  datasets, else ``question``; the leaderboard's ``MathVerse_MINI_Vision_Only`` is not a cot
  dataset.
- DynaMath (``dynamath.py: Dynamath.build_prompt``): ``"## Question\\n {question}"``, then the
  class's ``GUIDE`` with an instruction per answer type and the JSON example.
- WeMath (``image_mcq.py: WeMath.build_prompt``): optional ``Hint:`` line, ``Question:``, then
  ``Options:`` one per line, each line ending in a newline (no trailing requirement for the
  non-COT dataset).

VLMEvalKit reads its own TSV copies, not the published files, so which published field fills
the TSV's ``question`` column is inferred, not confirmed (the TSVs are not in the repository):
MathVista's is its ``query`` (hint, question, choices: the shape of the in-context examples
of ``utils/mathvista.py``); MathVision's is built the same way with the two hints of
``utils/mathv.py``'s examples; MathVerse's is ``query_wo`` (its ``question`` is empty for
Vision Only); LogicVista's and WeMath's are the published ``question``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

# utils/mathv.py's in-context examples: the hint lines MathVision's questions carry.
MATHVISION_CHOICE_HINT = (
    "Hint: Please answer the question and provide the correct option letter, "
    "e.g., A, B, C, D, at the end."
)
MATHVISION_FREE_HINT = "Hint: Please answer the question and provide the final answer at the end."

# dynamath.py: Dynamath.GUIDE / EXAMPLE / build_prompt's instructions, as the class spells them
# (the "corresponing" typo included: it is what the model sees).
DYNAMATH_GUIDE = (
    "\n## Answer Instruction Please provide an answer to the question outlined above. Your "
    "response should adhere to the following JSON format, which includes two keys: 'solution' "
    "and 'short answer'. The 'solution' key can contain detailed steps needed to solve the "
    "question, and the 'short answer' key should provide a concise response. {INST}\n\n"
    "Example of expected JSON response format:\n\n"
)
DYNAMATH_EXAMPLE = json.dumps(
    {"solution": "[Detailed step-by-step explanation]", "short answer": "[Concise Answer]"},
    indent=4,
)
DYNAMATH_INSTRUCTIONS: dict[str, str] = {
    "multiple choice": "Provide the corresponing choice option in the 'short answer' key, "
    "such as 'A', 'B', 'C', or 'D'.",
    "float": "Format the answer as a three-digit floating-point number and provide it in the "
    "'short answer' key.",
}
DYNAMATH_OTHER_INSTRUCTION = (
    "Float numbers in the answer should be formatted as three-digit floating-point numbers."
)


def mathvista(query: str) -> str:
    """MathVista: the TSV question, i.e. the published ``query`` (hint, question, choices)."""
    return query


def mathvision(question: str, options: Mapping[str, str]) -> str:
    """MathVision: hint, question and ``(A) text`` choices, MathVista's query shape."""
    hint = MATHVISION_CHOICE_HINT if options else MATHVISION_FREE_HINT
    text = f"{hint}\nQuestion: {question}"
    if options:
        text += "\nChoices:\n" + "\n".join(f"({label}) {value}" for label, value in options.items())
    return text


def mathverse(query_wo: str) -> str:
    """MathVerse (non-cot dataset): the TSV question, i.e. the published ``query_wo``."""
    return query_wo


def dynamath(question: str, answer_type: str) -> str:
    """DynaMath: the question under ``## Question``, the answer guide and the JSON example."""
    instruction = DYNAMATH_INSTRUCTIONS.get(answer_type, DYNAMATH_OTHER_INSTRUCTION)
    return f"## Question\n {question}" + DYNAMATH_GUIDE.format(INST=instruction) + DYNAMATH_EXAMPLE


def wemath(question: str, options: Mapping[str, str], hint: str | None = None) -> str:
    """WeMath (non-COT): optional hint, ``Question:``, then ``Options:``, a newline per line."""
    text = f"Hint: {hint}\n" if hint else ""
    text += f"Question: {question}\n"
    if options:
        text += "Options:\n" + "".join(f"{label}. {value}\n" for label, value in options.items())
    return text


def logicvista(question: str) -> str:
    """LogicVista: the question as published (its options are inside it or the image)."""
    return question
