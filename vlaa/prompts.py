"""The system prompt used for training and evaluation (PAPER.md, "System prompt")."""

SYSTEM_PROMPT = (
    "You are a helpful reasoning assistant. Given an image and a question, first think about "
    "the reasoning process, then give the answer. Put the reasoning inside <think> </think> "
    "tags and the final answer inside <answer> </answer> tags."
)

# Appended to questions by answer type, as the paper does for SFT (task-specific instructions).
TASK_INSTRUCTIONS = {
    "mcq": "Answer with the option's letter.",
    "digit": "Answer with a single number.",
    "math": "Answer with the final expression or value.",
    "iou": "Answer with the box as [x1, y1, x2, y2] in normalised coordinates.",
    "open": "Answer briefly.",
}


def user_text(question: str, reward_type: str) -> str:
    """The user turn's text: the question plus the instruction for its answer type."""
    instruction = TASK_INSTRUCTIONS.get(reward_type)
    return f"{question} {instruction}" if instruction else question
