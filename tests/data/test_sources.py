"""Source readers: each reads a tiny copy of its source's published layout (vlaa.data.sources)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from vlaa.data.sources import OPENERS, SourceError, SourceReader, SourceSpec, open_source
from vlaa.data.sources.base import BOTH_ROLES, CONTEXT_KEY, SourceRow
from vlaa.records import Record

READER_KINDS = [kind for kind in OPENERS if kind not in ("release", "records")]


def _image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image_format = "PNG" if path.suffix == ".png" else "JPEG"
    Image.new("RGB", (8, 8), (200, 30, 30)).save(path, format=image_format)


def _json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def _jsonl(path: Path, lines: list[Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines),
        encoding="utf-8",
    )


def _read(kind: str, path: Path, **spec: Any) -> tuple[SourceReader, list[SourceRow]]:
    reader = open_source(SourceSpec(kind=kind, path=str(path), **spec))
    return reader, list(reader.rows)


def _good(rows: list[SourceRow]) -> list[SourceRow]:
    """Rows without a problem, each checked against the record contract and its image file."""
    good = [row for row in rows if row.problem is None]
    for row in good:
        assert isinstance(row.data, dict)
        Record.model_validate(row.data)
        assert (row.image_root / row.data["image"]).is_file(), row.location
    return good


def _problems(rows: list[SourceRow]) -> list[str]:
    return [row.problem[0] for row in rows if row.problem is not None]


def _conversation(question: str, answer: str) -> list[dict[str, str]]:
    return [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]


# ----------------------------------------------------------------------------- CLEVR-Math


@pytest.fixture
def clevr_math(tmp_path: Path) -> Path:
    root = tmp_path / "clevr-math"
    for index in range(3):
        _image(root / f"CLEVR_v1.0/images/train/CLEVR_train_00000{index}.png")
    questions = [
        {
            "split": "train",
            "image_filename": "CLEVR_train_000000.png",
            "question": "Subtract all balls. How many objects are left?",
            "answer": 3,
            "template_filename": "subtraction.json",
            "question_index": 7,
        },
        {
            "split": "train",
            "image_filename": "CLEVR_train_000001.png",
            "question": "Add 1 cube. How many cubes are there?",
            "answer": 2,
            "template_filename": "addition.json",
        },
        {"split": "train", "image_filename": "CLEVR_train_000002.png", "answer": 1},
        {
            "split": "train",
            "image_filename": "CLEVR_train_000002.png",
            "question": "How many?",
            "answer": "many",
        },
        {"split": "test", "image_filename": "CLEVR_test_000000.png", "question": "How many?"},
    ]
    _json(root / "clevr-math-train.json", {"info": {}, "questions": questions})
    sphere = {
        "size": "large",
        "color": "blue",
        "material": "metal",
        "shape": "sphere",
        "pixel_coords": [240.2, 160.7, 10.1],
    }
    cylinder = {**sphere, "size": "small", "color": "red", "shape": "cylinder"}
    scenes = [{"image_filename": "CLEVR_train_000000.png", "objects": [sphere, cylinder]}]
    _json(root / "CLEVR_v1.0/scenes/CLEVR_train_scenes.json", {"info": {}, "scenes": scenes})
    return root


def test_clevr_math_rows_carry_count_answers_and_scene_context(clevr_math: Path) -> None:
    reader, rows = _read("clevr_math", clevr_math)
    assert reader.image_prefix == "clevr_math" and reader.roles == BOTH_ROLES
    assert len(rows) == 5
    first, second = _good(rows)
    assert first.data["id"] == "clevr_math-CLEVR_train_000000-7"
    assert first.data["image"] == "CLEVR_v1.0/images/train/CLEVR_train_000000.png"
    assert (first.data["answer"], first.data["reward_type"]) == ("3", "digit")
    context = first.data["meta"][CONTEXT_KEY]
    assert "2 objects" in context
    assert "a large blue metal sphere at pixel (x=240, y=161)" in context
    assert "small red metal cylinder" in context
    assert CONTEXT_KEY not in second.data["meta"]  # its image has no scene
    assert second.data["meta"]["template"] == "addition"
    assert _problems(rows) == ["missing_field", "invalid_answer", "missing_answer"]
    assert rows[3].data["id"].startswith("clevr_math-CLEVR_train_000002")
    assert rows[2].location == "clevr-math-train.json:2"


def test_clevr_math_limit_and_scene_options(clevr_math: Path) -> None:
    _, rows = _read("clevr_math", clevr_math, limit=1)
    assert len(rows) == 1
    _, rows = _read("clevr_math", clevr_math, options={"scenes": ""})
    assert all(CONTEXT_KEY not in row.data["meta"] for row in _good(rows))
    with pytest.raises(SourceError, match="scene file"):
        open_source(
            SourceSpec(kind="clevr_math", path=str(clevr_math), options={"scenes": "none.json"})
        )


# ----------------------------------------------------------------------------- GeoQA170K

GEOQA_INSTRUCTION = (
    "<image>\nFirst perform reasoning, then finally select the question from the choices in "
    "the following format: Answer: xxx.\nQuestion: "
)


@pytest.fixture
def geoqa(tmp_path: Path) -> Path:
    root = tmp_path / "Geo170K"
    _image(root / "images/geoqa_plus/10756.png")
    choices = "\nChoices:\nA: 32°\nB: 68°\nC: 58°\nD: 34°"
    samples = [
        {
            "image": "geoqa_plus/10756.png",
            "conversations": _conversation(
                GEOQA_INSTRUCTION + "If angle 1 is 32°, what is angle 2?" + choices,
                "Angle 2 = 180° - 90° - 32° = 58°. Therefore, the answer is: C.\nAnswer:C",
            ),
        },
        {
            "image": "geoqa_plus/2.png",
            "conversations": _conversation(GEOQA_INSTRUCTION + "Find x.", "Answer:A"),
        },
        {
            "image": "geoqa_plus/3.png",
            "conversations": _conversation(GEOQA_INSTRUCTION + "Find y." + choices, "Answer:E"),
        },
        {
            "image": "geoqa_plus/4.png",
            "conversations": _conversation(GEOQA_INSTRUCTION + "Find z." + choices, "It is 58°."),
        },
        ["not", "an", "object"],
    ]
    _json(root / "qa_tuning.json", samples)
    return root


def test_geoqa_rows_are_rl_only_mcq_with_cleaned_questions(geoqa: Path) -> None:
    reader, rows = _read("geoqa170k", geoqa)
    assert reader.roles == frozenset({"rl"})
    assert reader.image_prefix == "geoqa170k"
    (good,) = _good(rows)
    assert good.image_root == geoqa / "images"
    assert good.data["id"] == "geoqa170k-geoqa_plus-10756-0"
    assert good.data["question"].startswith("If angle 1 is 32°, what is angle 2?\nChoices:\nA: 32°")
    assert "<image>" not in good.data["question"] and "First perform" not in good.data["question"]
    assert (good.data["answer"], good.data["reward_type"]) == ("C", "mcq")
    assert _problems(rows) == [
        "missing_options",
        "answer_not_option",
        "missing_answer",
        "invalid_json",
    ]
    assert rows[2].data["id"] == "geoqa170k-geoqa_plus-3-2"
    assert rows[4].data == {"source": "geoqa170k"}


# ----------------------------------------------------------------------------- Math-PUMA


@pytest.fixture
def math_puma(tmp_path: Path) -> Path:
    root = tmp_path / "Synthesis"
    _image(root / "images/gen_func/func_sine_1.png")
    _image(root / "images/gen_func/func_poly_2.png")
    samples = [
        {
            "image_url": "",
            "instruction": "The function y = a * sin(-5 * x) goes through (pi/10, 5). "
            "What is the function's equation?",
            "output": "Step 1: ...\n\n†Answer: y = -5 * sin(-5 * x).",
            "image_url_2": "images/gen_func/func_sine_1.png",
            "instruction_2": "<image>\nWhat is the function's equation?",
            "output_2": "Step 1: ...\n\n†Answer: y = -5 * sin(-5 * x).",
        },
        {
            "instruction": "Text version 2",
            "image_url_2": "images/gen_func/func_poly_2.png",
            "instruction_2": "Find the zero of the polynomial.",
            "output_2": "So x = \\boxed{\\frac{1}{2}}.",
        },
        {
            "instruction": "Text version 3",
            "image_url_2": "images/gen_func/func_poly_2.png",
            "instruction_2": "Find b.",
            "output_2": "We cannot tell.",
        },
        {"instruction": "Text version 4", "image_url_2": "images/x.png", "output_2": "†Answer: 1"},
        {
            "instruction": "Text version 5",
            "image_url_2": "/abs/images/x.png",
            "instruction_2": "Find c.",
            "output_2": "†Answer: 2",
        },
    ]
    _json(root / "train.json", samples)
    return root


def test_math_puma_rows_take_the_final_answer_and_the_text_version(math_puma: Path) -> None:
    reader, rows = _read("math_puma", math_puma)
    assert reader.image_prefix == "math_puma"
    first, second = _good(rows)
    assert first.data["id"] == "math_puma-0"
    assert first.data["question"] == "What is the function's equation?"
    # Plain-text notation as LaTeX, the text as written kept (issue 14).
    latex = "y = -5 \\cdot \\sin(-5 \\cdot x)"
    assert (first.data["answer"], first.data["reward_type"]) == (latex, "math")
    assert first.data["meta"]["answer_original"] == "y = -5 * sin(-5 * x)"
    assert first.data["meta"][CONTEXT_KEY].startswith("The function y = a * sin(-5 * x)")
    assert second.data["answer"] == "\\frac{1}{2}"
    assert second.data["meta"][CONTEXT_KEY] == "Text version 2"
    assert _problems(rows) == ["missing_answer", "missing_field", "invalid_image_path"]


# ----------------------------------------------------------------------------- ArxivQA


@pytest.fixture
def arxivqa(tmp_path: Path) -> Path:
    root = tmp_path / "ArxivQA"
    _image(root / "images/1704.01566_1.jpg")
    _image(root / "images/1907.10497_1.jpg")
    options = ["A) It increases.", "B) It fluctuates.", "C) It stabilises.", "D) It decreases."]
    lines = [
        {
            "id": "cond-mat-23739",
            "image": "images/1704.01566_1.jpg",
            "question": "What does the heat flux trend suggest?",
            "options": options,
            "label": "C",
            "rationale": "It levels off.",
        },
        {
            "id": "cond-mat-23815",
            "image": "images/1907.10497_1.jpg",
            "question": "How does the ratio change?",
            "options": options,
            "label": "B) It fluctuates.",
        },
        "",
        {"id": "x-1", "image": "images/1907.10497_1.jpg", "question": "Q?", "label": "A"},
        {
            "id": "x-2",
            "image": "images/1907.10497_1.jpg",
            "question": "Q?",
            "options": options,
            "label": "E",
        },
        "{not json",
    ]
    _jsonl(root / "arxivqa.jsonl", lines)
    return root


def test_arxivqa_renders_options_and_normalises_the_label(arxivqa: Path) -> None:
    _, rows = _read("arxivqa", arxivqa)
    first, second = _good(rows)
    assert first.data["id"] == "arxivqa-cond-mat-23739"
    assert first.data["question"] == (
        "What does the heat flux trend suggest?\nA. It increases.\nB. It fluctuates.\n"
        "C. It stabilises.\nD. It decreases."
    )
    assert (first.data["answer"], first.data["reward_type"]) == ("C", "mcq")
    assert second.data["answer"] == "B"
    assert _problems(rows) == ["missing_options", "answer_not_option", "invalid_json"]
    assert [row.location for row in rows[2:]] == [
        "arxivqa.jsonl:4",
        "arxivqa.jsonl:5",
        "arxivqa.jsonl:6",
    ]
    assert rows[2].data["id"] == "arxivqa-x-1"


# ----------------------------------------------------------------------------- DocVQA


def _docvqa_items() -> list[dict[str, Any]]:
    return [
        {
            "questionId": 337,
            "question": "what is the date mentioned in this letter?",
            "question_types": ["handwritten", "form"],
            "image": "documents/xnbl0037_1.png",
            "docId": 279,
            "ucsf_document_id": "xnbl0037",
            "ucsf_document_page_no": "1",
            "answers": ["1/8/93", "1/8/1993"],
            "data_split": "train",
        },
        {"questionId": 338, "question": "who signed?", "image": "documents/xnbl0037_1.png"},
        {"questionId": 339, "image": "documents/xnbl0037_1.png", "answers": ["x"]},
    ]


def test_docvqa_reads_the_annotation_json_and_both_image_layouts(tmp_path: Path) -> None:
    standard = tmp_path / "docvqa"
    _image(standard / "documents/xnbl0037_1.png")
    _json(
        standard / "train_v1.0_withQT.json", {"dataset_name": "SP-DocVQA", "data": _docvqa_items()}
    )
    reader, rows = _read("docvqa", standard)
    assert reader.image_prefix == "docvqa"
    (good,) = _good(rows)
    assert good.data["id"] == "docvqa-337"
    assert good.data["image"] == "documents/xnbl0037_1.png"
    assert (good.data["answer"], good.data["reward_type"]) == ("1/8/93", "open")
    assert good.data["meta"]["answers"] == ["1/8/93", "1/8/1993"]
    assert good.data["meta"]["ucsf_document_id"] == "xnbl0037"
    assert _problems(rows) == ["missing_answer", "missing_field"]

    rrc = tmp_path / "rrc"
    _image(rrc / "spdocvqa_images/xnbl0037_1.png")
    _json(rrc / "spdocvqa_qas/train_v1.0_withQT.json", {"data": _docvqa_items()})
    _, rows = _read("docvqa", rrc, limit=1)
    (good,) = _good(rows)
    assert good.image_root == rrc / "spdocvqa_images"
    assert good.data["image"] == "xnbl0037_1.png"
    assert good.location == "spdocvqa_qas/train_v1.0_withQT.json:0"


def test_docvqa_file_without_data_array_is_a_source_error(tmp_path: Path) -> None:
    _json(tmp_path / "train_v1.0.json", {"questions": _docvqa_items()})
    reader = open_source(SourceSpec(kind="docvqa", path=str(tmp_path)))
    with pytest.raises(SourceError, match=r"no records under 'data\.item'"):
        list(reader.rows)


# ----------------------------------------------------------------------------- VizWiz


def _answers(*values: str) -> list[dict[str, str]]:
    return [{"answer": value, "answer_confidence": "yes"} for value in values]


@pytest.fixture
def vizwiz(tmp_path: Path) -> Path:
    root = tmp_path / "vizwiz"
    for index in range(4):
        _image(root / f"train/VizWiz_train_0000000{index}.jpg")
    annotations = [
        {
            "image": "VizWiz_train_00000000.jpg",
            "question": "What is this?",
            "answers": _answers("unanswerable", "Soup", "soup", "can", "can", "soup"),
            "answer_type": "other",
            "answerable": 1,
        },
        {
            "image": "VizWiz_train_00000001.jpg",
            "question": "What colour is this shirt?",
            "answers": _answers("blue", "grey", "grey", "blue"),
            "answer_type": "other",
            "answerable": 1,
        },
        {
            "image": "VizWiz_train_00000002.jpg",
            "question": "What does this say?",
            "answers": _answers("unanswerable", "unanswerable"),
            "answer_type": "unanswerable",
            "answerable": 0,
        },
        {
            "image": "VizWiz_train_00000003.jpg",
            "question": "Is it sunny?",
            "answers": _answers("unsuitable image", "unanswerable"),
            "answer_type": "yes/no",
            "answerable": 1,
        },
        {"image": "VizWiz_train_00000004.jpg", "answers": _answers("yes")},
    ]
    _json(root / "Annotations/train.json", annotations)
    return root


def test_vizwiz_takes_the_most_common_answer_and_quarantines_unanswerable(vizwiz: Path) -> None:
    reader, rows = _read("vizwiz", vizwiz)
    assert reader.image_prefix == "vizwiz"
    first, second = _good(rows)
    assert first.data["id"] == "vizwiz-VizWiz_train_00000000"
    assert first.data["image"] == "train/VizWiz_train_00000000.jpg"
    assert (first.data["answer"], first.data["reward_type"]) == ("Soup", "open")
    assert second.data["answer"] == "blue"  # a tie goes to the answer given first
    assert _problems(rows) == ["unanswerable", "unanswerable", "missing_field"]
    assert rows[2].data["id"] == "vizwiz-VizWiz_train_00000002"
    assert rows[2].problem is not None and "unanswerable" in rows[2].problem[1]


# ----------------------------------------------------------------------------- ALLaVA-LAION


def _allava(number: str, kind: str, question: str, answer: str) -> dict[str, Any]:
    return {
        "id": f"allava_laion_{kind}_{number}",
        "image": f"allava_laion/images/{number}.jpeg",
        "conversations": _conversation(f"<image>\n{question}", answer),
        "original_caption": f"alt text {number}",
        "url": f"https://example.com/{number}.jpg",
    }


@pytest.fixture
def allava(tmp_path: Path) -> Path:
    root = tmp_path / "ALLaVA-4V"
    for number in ("100", "200", "300"):
        _image(root / f"allava_laion/images/{number}.jpeg")
    instruct = [
        _allava("100", "inst", "Why is the ring valuable?", "Its gemstones."),
        _allava("200", "inst", "What is the map for?", "Finding the store."),
        _allava("300", "inst", "What breed is it?", "A beagle."),
        {"id": "allava_laion_inst_400", "image": "allava_laion/images/400.jpeg"},
    ]
    # Captions in another order, and none for image 300: the join must not depend on order.
    captions = [
        _allava("200", "cap", "Describe the image.", "A street map with a red marker."),
        _allava("100", "cap", "Describe the image.", "A silver ring shaped like a leaf."),
    ]
    _json(root / "allava_laion/ALLaVA-Instruct-LAION-4V.json", instruct)
    _json(root / "allava_laion/ALLaVA-Caption-LAION-4V.json", captions)
    return root


def test_allava_joins_the_original_caption_as_context(allava: Path) -> None:
    reader, rows = _read("allava_laion", allava)
    assert reader.image_prefix == "allava_laion"
    first, second, third = _good(rows)
    assert first.image_root == allava
    assert first.data["id"] == "allava_laion-100"
    assert first.data["question"] == "Why is the ring valuable?"
    assert (first.data["answer"], first.data["reward_type"]) == ("Its gemstones.", "open")
    assert first.data["meta"][CONTEXT_KEY] == "A silver ring shaped like a leaf."
    assert first.data["meta"]["original_caption"] == "alt text 100"
    assert second.data["meta"][CONTEXT_KEY] == "A street map with a red marker."
    assert CONTEXT_KEY not in third.data["meta"]
    assert _problems(rows) == ["missing_field"]
    assert rows[3].data["id"] == "allava_laion-400"


def test_allava_caption_file_is_required_unless_switched_off(allava: Path) -> None:
    # The subset folder itself may be given; images stay relative to its parent.
    _, rows = _read("allava_laion", allava / "allava_laion", options={"captions": ""})
    assert all(CONTEXT_KEY not in row.data["meta"] for row in _good(rows))
    (allava / "allava_laion/ALLaVA-Caption-LAION-4V.json").unlink()
    with pytest.raises(SourceError, match="caption file"):
        open_source(SourceSpec(kind="allava_laion", path=str(allava)))


# ----------------------------------------------------------------------------- LLaVA-CoT


def _cot(record_id: str, image: str, question: str, conclusion: str) -> dict[str, Any]:
    answer = (
        "<SUMMARY>I will locate it.</SUMMARY>\n\n<CAPTION>A street.</CAPTION>\n\n"
        f"<REASONING>The region is on the left.</REASONING>\n\n<CONCLUSION>{conclusion}"
        "</CONCLUSION>"
    )
    return {"id": record_id, "image": image, "conversations": _conversation(question, answer)}


BOX_QUESTION = (
    "<image>\nPlease provide the bounding box coordinate of the region this sentence "
    "describes: man in red."
)


@pytest.fixture
def llava_cot(tmp_path: Path) -> Path:
    root = tmp_path / "LLaVA-CoT-100k"
    _image(root / "coco/train2017/000000033471.jpg")
    _image(root / "vg/VG_100K/2345.jpg")
    lines = [
        _cot("33471", "coco/train2017/000000033471.jpg", BOX_QUESTION, "[0.12, 0.3, 0.45, 0.9]"),
        _cot(
            "33471b", "coco/train2017/000000033471.jpg", "<image>\nWhat colour is the bus?", "Red"
        ),
        _cot("2345", "vg/VG_100K/2345.jpg", BOX_QUESTION, "[0.1, 0.2, 0.3, 0.4]"),
        _cot("33472", "coco/train2017/000000033472.jpg", BOX_QUESTION, "On the left side."),
        _cot("33473", "coco/train2017/000000033473.jpg", BOX_QUESTION, "[12, 30, 45, 90]"),
        _cot("33474", "coco/train2017/000000033474.jpg", BOX_QUESTION, "[0.5, 0.2, 0.4, 0.6]"),
        "{broken",
    ]
    _jsonl(root / "train.jsonl", lines)
    return root


def test_llava_cot_coco_reads_box_samples_of_its_subset(llava_cot: Path) -> None:
    reader, rows = _read("llava_cot_coco", llava_cot)
    assert reader.image_prefix == "llava_cot_coco"
    (good,) = _good(rows)
    assert good.data["id"] == "llava_cot_coco-33471-1"
    assert good.data["question"].startswith("Please provide the bounding box coordinate")
    assert good.data["answer"] == [0.12, 0.3, 0.45, 0.9]
    assert good.data["reward_type"] == "iou"
    # The non-box COCO question and the VisualGenome sample are not this source's samples.
    assert _problems(rows) == ["invalid_box", "invalid_box", "invalid_box", "invalid_json"]
    assert "normalised" in str(rows[2].problem) and "area" in str(rows[3].problem)


def test_llava_cot_vg_reads_the_visual_genome_subset(llava_cot: Path) -> None:
    _, rows = _read("llava_cot_vg", llava_cot, limit=1)
    (good,) = _good(rows)
    assert good.data["id"] == "llava_cot_vg-2345-3"
    assert good.data["answer"] == [0.1, 0.2, 0.3, 0.4]


def test_llava_cot_images_may_sit_in_an_image_folder(tmp_path: Path) -> None:
    _image(tmp_path / "image/vg/VG_100K/2345.jpg")
    _jsonl(
        tmp_path / "train.jsonl",
        [_cot("2345", "vg/VG_100K/2345.jpg", BOX_QUESTION, "[0, 0, 1, 1]")],
    )
    _, rows = _read("llava_cot_vg", tmp_path)
    (good,) = _good(rows)
    assert good.image_root == tmp_path / "image"


# ----------------------------------------------------------------------------- all readers


@pytest.mark.parametrize("kind", READER_KINDS)
def test_missing_folder_is_a_source_error(kind: str, tmp_path: Path) -> None:
    spec = SourceSpec(kind=kind, path=str(tmp_path / "absent"))
    with pytest.raises(SourceError, match="does not exist"):
        open_source(spec)
    module, function = OPENERS[kind]
    opener = getattr(importlib.import_module(module), function)
    with pytest.raises(SourceError, match="does not exist"):
        opener(spec, tmp_path / "absent")  # the reader checks too, not only open_source


@pytest.mark.parametrize("kind", READER_KINDS)
def test_missing_annotation_file_is_a_source_error(kind: str, tmp_path: Path) -> None:
    (tmp_path / "unrelated.txt").write_text("x")
    with pytest.raises(SourceError, match="no annotation file"):
        open_source(SourceSpec(kind=kind, path=str(tmp_path)))


@pytest.mark.parametrize("kind", READER_KINDS)
def test_unknown_option_is_a_source_error(kind: str, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="unknown option"):
        open_source(SourceSpec(kind=kind, path=str(tmp_path), options={"imag_root": "x"}))


def test_annotation_option_and_file_path_name_the_annotation(arxivqa: Path) -> None:
    renamed = arxivqa / "renamed.jsonl"
    (arxivqa / "arxivqa.jsonl").rename(renamed)
    _, by_option = _read("arxivqa", arxivqa, options={"annotation": "renamed.jsonl"})
    _, by_path = _read("arxivqa", renamed)
    assert [row.data for row in by_option] == [row.data for row in by_path]
    assert len(_good(by_path)) == 2


def test_non_utf8_json_line_is_a_problem_row(arxivqa: Path) -> None:
    with (arxivqa / "arxivqa.jsonl").open("ab") as handle:
        handle.write(b'{"id": "\xff\xfe"}\n')
    _, rows = _read("arxivqa", arxivqa)
    assert rows[-1].problem is not None and rows[-1].problem[0] == "non_utf8"
    assert rows[-1].location == "arxivqa.jsonl:7"


def test_a_truncated_json_array_is_a_source_error(tmp_path: Path) -> None:
    (tmp_path / "qa_tuning.json").write_text('[{"image": "a.png", "conversations": []}, {"ima')
    reader = open_source(SourceSpec(kind="geoqa170k", path=str(tmp_path)))
    with pytest.raises(SourceError, match="invalid JSON after 1 item"):
        list(reader.rows)
