"""UI (litegraph) workflow -> API prompt conversion, checked against real-shaped fixtures."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from nodegraph.ui_workflow import WorkflowFormatError, is_ui_workflow, ui_to_api

FIXTURES = Path(__file__).parent / "fixtures" / "ui"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text("utf-8"))


@pytest.fixture(scope="module")
def object_info() -> dict[str, Any]:
    return load("object_info.json")  # type: ignore[no-any-return]


@pytest.fixture
def node_info(object_info: dict[str, Any]) -> Callable[[str], dict[str, Any] | None]:
    return lambda class_type: copy.deepcopy(object_info.get(class_type))


def node(workflow: dict[str, Any], node_id: int) -> dict[str, Any]:
    return next(n for n in workflow["nodes"] if n["id"] == node_id)


def add_link(workflow: dict[str, Any], link: list[Any]) -> None:
    workflow["links"].append(link)


# --- the default txt2img graph ------------------------------------------------------------


def test_default_txt2img_matches_known_api_prompt(node_info: Any) -> None:
    api = ui_to_api(load("default_txt2img.json"), node_info)

    assert api == load("default_txt2img_api.json")
    # Nodes come out in execution order (the saved `order`), inputs in INPUT_TYPES order.
    assert list(api) == ["4", "5", "6", "7", "3", "8", "9"]
    assert list(api["3"]["inputs"]) == [
        "model",
        "seed",
        "steps",
        "cfg",
        "sampler_name",
        "scheduler",
        "positive",
        "negative",
        "latent_image",
        "denoise",
    ]
    assert "randomize" not in api["3"]["inputs"].values()


def test_conversion_does_not_mutate_the_workflow(node_info: Any) -> None:
    workflow = load("default_txt2img.json")
    before = copy.deepcopy(workflow)
    ui_to_api(workflow, node_info)
    assert workflow == before


def test_v1_link_objects_native_reroutes_and_titles(node_info: Any) -> None:
    workflow = load("default_txt2img_v1.json")
    expected = load("default_txt2img_api.json")
    expected["6"]["_meta"]["title"] = "Positive Prompt"
    expected["7"]["_meta"]["title"] = "Negative Prompt"

    api = ui_to_api(workflow, node_info)

    assert api == expected
    # link 1 runs through native reroutes 2 -> 1 (parentId) but still starts at node 4.
    assert api["3"]["inputs"]["model"] == ["4", 0]


def test_input_order_falls_back_to_key_order_without_input_order(node_info: Any) -> None:
    api = ui_to_api(load("load_image.json"), node_info)
    assert "input_order" not in node_info("VAEEncode")
    assert list(api["2"]["inputs"]) == ["pixels", "vae"]


# --- frontend-only nodes ------------------------------------------------------------------


def test_reroute_chain_and_primitives(node_info: Any) -> None:
    api = ui_to_api(load("reroute_primitive.json"), node_info)

    # Reroutes, primitives, Note and MarkdownNote never reach the server.
    assert set(api) == {"3", "4", "5", "6", "7", "8", "9"}
    # The model goes 4 -> Reroute 10 -> Reroute 11 -> KSampler.
    assert api["3"]["inputs"]["model"] == ["4", 0]
    # PrimitiveNode 12 (42, "fixed") feeds the seed; the stale widget value is ignored and the
    # seed's slot plus its control value are still consumed, so steps/cfg line up.
    assert api["3"]["inputs"] == {
        "model": ["4", 0],
        "seed": 42,
        "steps": 25,
        "cfg": 7.5,
        "sampler_name": "dpmpp_2m",
        "scheduler": "karras",
        "positive": ["6", 0],
        "negative": ["7", 0],
        "latent_image": ["5", 0],
        "denoise": 1,
    }
    # PrimitiveNode 14 reaches the text widget of node 7 through Reroute 15.
    assert api["7"]["inputs"] == {"text": "ugly, blurry", "clip": ["4", 1]}


def test_primitive_without_value_keeps_target_widget(node_info: Any) -> None:
    workflow = load("reroute_primitive.json")
    node(workflow, 12)["widgets_values"] = []
    api = ui_to_api(workflow, node_info)
    assert api["3"]["inputs"]["seed"] == 156680208700286
    assert api["3"]["inputs"]["steps"] == 25


def test_reroute_without_input_leaves_socket_input_out(node_info: Any) -> None:
    workflow = load("reroute_primitive.json")
    node(workflow, 10)["inputs"][0]["link"] = None
    api = ui_to_api(workflow, node_info)
    assert "model" not in api["3"]["inputs"]
    assert api["3"]["inputs"]["positive"] == ["6", 0]


# --- muted and bypassed nodes -------------------------------------------------------------


def test_muted_nodes_dropped_and_their_consumers_lose_the_input(node_info: Any) -> None:
    api = ui_to_api(load("mute_bypass.json"), node_info)

    assert "12" not in api  # muted PreviewImage
    assert "13" not in api  # muted VAEDecode
    assert api["14"] == {
        "class_type": "PreviewImage",
        "inputs": {},
        "_meta": {"title": "Preview of a muted decode"},
    }
    assert api["9"]["inputs"] == {"images": ["8", 0], "filename_prefix": "lighthouse"}


def test_bypassed_chain_is_rewired_to_the_real_source(node_info: Any) -> None:
    api = ui_to_api(load("mute_bypass.json"), node_info)

    # EmptyLatentImage 5 -> LatentUpscale 10 (bypass) -> LatentUpscale 11 (bypass) -> KSampler.
    assert "10" not in api and "11" not in api
    assert api["3"]["inputs"]["latent_image"] == ["5", 0]
    assert api["3"]["inputs"]["seed"] == 7


def test_bypassed_node_without_matching_input_drops_consumer_input(node_info: Any) -> None:
    api = ui_to_api(load("mute_bypass.json"), node_info)
    # VAEDecode 15 (LATENT, VAE -> IMAGE) is bypassed: no IMAGE input to pass through.
    assert "15" not in api
    assert api["16"] == {
        "class_type": "SaveImage",
        "inputs": {"filename_prefix": "bypassed_decode"},
        "_meta": {"title": "Save Image"},
    }


def test_bypass_picks_first_input_of_the_output_type(node_info: Any) -> None:
    workflow = load("default_txt2img.json")
    # A bypassed mask node whose first input is a MASK and second the LATENT to pass through.
    workflow["nodes"].append(
        {
            "id": 10,
            "type": "SetLatentNoiseMaskSwapped",
            "order": 2,
            "mode": 4,
            "inputs": [
                {"name": "mask", "type": "MASK", "link": None},
                {"name": "samples", "type": "LATENT", "link": 2},
            ],
            "outputs": [{"name": "LATENT", "type": "LATENT", "links": [10]}],
            "properties": {},
        }
    )
    workflow["links"][1] = [2, 5, 0, 10, 1, "LATENT"]
    add_link(workflow, [10, 10, 0, 3, 3, "LATENT"])
    node(workflow, 3)["inputs"][3]["link"] = 10

    api = ui_to_api(workflow, node_info)

    assert "10" not in api
    assert api["3"]["inputs"]["latent_image"] == ["5", 0]


@pytest.mark.parametrize(
    "bypassed_input",
    [
        {"name": "value", "type": "INT", "link": None},
        {"name": "text", "type": "STRING", "link": None},
    ],
    ids=["matching-input-unlinked", "no-matching-input"],
)
def test_unresolvable_bypass_leaves_widget_input_out(
    node_info: Any, bypassed_input: dict[str, Any]
) -> None:
    workflow = load("default_txt2img.json")
    workflow["nodes"].append(
        {
            "id": 10,
            "type": "IntPassthrough",
            "order": 0,
            "mode": 4,
            "inputs": [bypassed_input],
            "outputs": [{"name": "INT", "type": "INT", "links": [10]}],
        }
    )
    node(workflow, 3)["inputs"].append(
        {"name": "seed", "type": "INT", "link": 10, "widget": {"name": "seed"}}
    )
    add_link(workflow, [10, 10, 0, 3, 4, "INT"])

    api = ui_to_api(workflow, node_info)

    assert "10" not in api
    assert "seed" not in api["3"]["inputs"]
    assert api["3"]["inputs"]["steps"] == 20


def test_bypass_prefers_the_input_at_the_output_slot(node_info: Any) -> None:
    workflow = load("default_txt2img.json")
    second_latent = copy.deepcopy(node(workflow, 5))
    second_latent.update(id=11, widgets_values=[768, 768, 1])
    second_latent["outputs"][0]["links"] = [11]
    workflow["nodes"].append(second_latent)
    # Bypassed node with two LATENT inputs and two LATENT outputs; output 1 passes input 1.
    workflow["nodes"].append(
        {
            "id": 10,
            "type": "LatentPairSwap",
            "order": 2,
            "mode": 4,
            "inputs": [
                {"name": "first", "type": "LATENT", "link": 2},
                {"name": "second", "type": "LATENT", "link": 11},
            ],
            "outputs": [
                {"name": "first", "type": "LATENT", "links": []},
                {"name": "second", "type": "LATENT", "links": [10]},
            ],
        }
    )
    workflow["links"][1] = [2, 5, 0, 10, 0, "LATENT"]
    add_link(workflow, [11, 11, 0, 10, 1, "LATENT"])
    add_link(workflow, [10, 10, 1, 3, 3, "LATENT"])
    node(workflow, 3)["inputs"][3]["link"] = 10

    api = ui_to_api(workflow, node_info)

    assert api["3"]["inputs"]["latent_image"] == ["11", 0]
    assert api["11"]["inputs"] == {"width": 768, "height": 768, "batch_size": 1}


# --- widgets_values alignment -------------------------------------------------------------


def test_widget_converted_to_input_consumes_its_slot(node_info: Any) -> None:
    workflow = load("default_txt2img.json")
    workflow["nodes"].append(
        {
            "id": 10,
            "type": "Seed (rgthree)",
            "order": 0,
            "mode": 0,
            "outputs": [{"name": "SEED", "type": "INT", "links": [10], "slot_index": 0}],
            "properties": {},
            "widgets_values": [-1, None, None, None],
        }
    )
    node(workflow, 3)["inputs"].append(
        {"name": "seed", "type": "INT", "link": 10, "widget": {"name": "seed"}}
    )
    add_link(workflow, [10, 10, 0, 3, 4, "INT"])

    api = ui_to_api(workflow, node_info)

    assert api["3"]["inputs"]["seed"] == ["10", 0]
    assert api["3"]["inputs"]["steps"] == 20
    assert api["3"]["inputs"]["cfg"] == 8
    assert api["3"]["inputs"]["sampler_name"] == "euler"
    assert api["3"]["inputs"]["denoise"] == 1
    # The unknown source is kept (for validation to report); its list widgets cannot be mapped.
    assert api["10"] == {
        "class_type": "Seed (rgthree)",
        "inputs": {},
        "_meta": {"title": "Seed (rgthree)"},
    }


def test_dangling_link_on_widget_input_falls_back_to_widget_value(node_info: Any) -> None:
    workflow = load("default_txt2img.json")
    node(workflow, 3)["inputs"].append(
        {"name": "steps", "type": "INT", "link": 99, "widget": {"name": "steps"}}
    )
    api = ui_to_api(workflow, node_info)
    assert api["3"]["inputs"]["steps"] == 20


@pytest.mark.parametrize(
    "widgets_values",
    [["example.png", "image"], ["example.png"], ["example.png", None]],
    ids=["upload-button", "no-button", "button-hole"],
)
def test_load_image_upload_value_skipped(node_info: Any, widgets_values: list[Any]) -> None:
    workflow = load("load_image.json")
    node(workflow, 1)["widgets_values"] = widgets_values

    api = ui_to_api(workflow, node_info)

    assert api == {
        "1": {
            "class_type": "LoadImage",
            "inputs": {"image": "example.png"},
            "_meta": {"title": "Load Image"},
        },
        "3": {
            "class_type": "CheckpointLoaderSimple",
            "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"},
            "_meta": {"title": "Load Checkpoint"},
        },
        "2": {
            "class_type": "VAEEncode",
            "inputs": {"pixels": ["1", 0], "vae": ["3", 2]},
            "_meta": {"title": "VAE Encode"},
        },
        "4": {
            "class_type": "PreviewImage",
            "inputs": {"images": ["1", 0]},
            "_meta": {"title": "Preview Image"},
        },
    }


@pytest.mark.parametrize(
    "widgets_values",
    [["example.png", "image", "red"], ["example.png", "red"]],
    ids=["upload-button", "no-button"],
)
def test_upload_button_value_skipped_before_next_widget(
    node_info: Any, widgets_values: list[Any]
) -> None:
    workflow = {
        "last_node_id": 1,
        "last_link_id": 0,
        "nodes": [
            {
                "id": 1,
                "type": "LoadImageMask",
                "order": 0,
                "mode": 0,
                "outputs": [{"name": "MASK", "type": "MASK", "links": None}],
                "properties": {"Node name for S&R": "LoadImageMask"},
                "widgets_values": widgets_values,
            }
        ],
        "links": [],
        "version": 0.4,
    }
    api = ui_to_api(workflow, node_info)
    assert api["1"]["inputs"] == {"image": "example.png", "channel": "red"}
    assert api["1"]["_meta"]["title"] == "Load Image (as Mask)"


def _join_strings_workflow(old_frontend: bool) -> dict[str, Any]:
    a_input: dict[str, Any] = {"name": "a", "type": "STRING", "link": 1}
    if old_frontend:  # old frontends kept forceInput sockets as converted widgets
        a_input["widget"] = {"name": "a"}
    return {
        "last_node_id": 2,
        "last_link_id": 1,
        "nodes": [
            {
                "id": 1,
                "type": "TextLine",
                "order": 0,
                "mode": 0,
                "outputs": [{"name": "STRING", "type": "STRING", "links": [1]}],
                "widgets_values": ["hello"],
            },
            {
                "id": 2,
                "type": "JoinStrings",
                "order": 1,
                "mode": 0,
                "inputs": [a_input],
                "widgets_values": ["", " | "] if old_frontend else [" | "],
            },
        ],
        "links": [[1, 1, 0, 2, 0, "STRING"]],
        "version": 0.4,
    }


@pytest.mark.parametrize("old_frontend", [False, True], ids=["socket-only", "converted-widget"])
def test_force_input_owns_a_widget_slot_only_when_saved_as_widget(old_frontend: bool) -> None:
    join_strings = {
        "input": {
            "required": {
                "a": ["STRING", {"forceInput": True}],
                "separator": ["STRING", {"default": ", "}],
            }
        },
        "output": ["STRING"],
        "name": "JoinStrings",
        "display_name": "Join Strings",
    }
    infos = {"JoinStrings": join_strings}
    api = ui_to_api(_join_strings_workflow(old_frontend), infos.get)
    assert api["2"]["inputs"] == {"a": ["1", 0], "separator": " | "}
    assert api["1"] == {"class_type": "TextLine", "inputs": {}, "_meta": {"title": "TextLine"}}


def _without_control_flag(info: dict[str, Any], class_type: str, name: str) -> None:
    del info[class_type]["input"]["required"][name][1]["control_after_generate"]


def test_legacy_noise_seed_without_control_flag(object_info: dict[str, Any]) -> None:
    info = copy.deepcopy(object_info)
    _without_control_flag(info, "KSamplerAdvanced", "noise_seed")
    workflow = load("default_txt2img.json")
    sampler = node(workflow, 3)
    sampler["type"] = "KSamplerAdvanced"
    sampler["widgets_values"] = [
        "enable",
        42,
        "fixed",
        30,
        6.5,
        "euler",
        "karras",
        0,
        10000,
        "disable",
    ]

    api = ui_to_api(workflow, info.get)

    assert api["3"]["class_type"] == "KSamplerAdvanced"
    assert api["3"]["_meta"]["title"] == "KSampler (Advanced)"
    assert api["3"]["inputs"] == {
        "model": ["4", 0],
        "add_noise": "enable",
        "noise_seed": 42,
        "steps": 30,
        "cfg": 6.5,
        "sampler_name": "euler",
        "scheduler": "karras",
        "positive": ["6", 0],
        "negative": ["7", 0],
        "latent_image": ["5", 0],
        "start_at_step": 0,
        "end_at_step": 10000,
        "return_with_leftover_noise": "disable",
    }


def test_legacy_seed_with_boolean_random_toggle(object_info: dict[str, Any]) -> None:
    # The 2023 default graph stored `true` for the old "random seed after every gen" toggle.
    info = copy.deepcopy(object_info)
    _without_control_flag(info, "KSampler", "seed")
    workflow = load("default_txt2img.json")
    node(workflow, 3)["widgets_values"] = [8566257, True, 20, 8, "euler", "normal", 1]

    api = ui_to_api(workflow, info.get)

    assert api["3"]["inputs"]["seed"] == 8566257
    assert api["3"]["inputs"]["steps"] == 20
    assert api["3"]["inputs"]["denoise"] == 1


def test_control_value_missing_is_not_skipped(node_info: Any) -> None:
    # A client that did not save the control widget: the next value is the real `steps`.
    workflow = load("default_txt2img.json")
    node(workflow, 3)["widgets_values"] = [5, 20, 8, "euler", "normal", 1]
    api = ui_to_api(workflow, node_info)
    assert api["3"]["inputs"]["seed"] == 5
    assert api["3"]["inputs"]["steps"] == 20
    assert api["3"]["inputs"]["denoise"] == 1


def test_short_widgets_values_leave_remaining_inputs_out(node_info: Any) -> None:
    workflow = load("default_txt2img.json")
    node(workflow, 5)["widgets_values"] = [640]
    api = ui_to_api(workflow, node_info)
    assert api["5"]["inputs"] == {"width": 640}


def test_dict_widgets_values_are_read_by_name(node_info: Any) -> None:
    workflow = load("default_txt2img.json")
    node(workflow, 5)["widgets_values"] = {
        "batch_size": 2,
        "height": 1024,
        "width": 768,
        "preview": {"hidden": True},
    }
    api = ui_to_api(workflow, node_info)
    assert api["5"]["inputs"] == {"width": 768, "height": 1024, "batch_size": 2}
    assert list(api["5"]["inputs"]) == ["width", "height", "batch_size"]


# --- unknown classes and undeclared inputs -----------------------------------------------


def test_unknown_class_is_kept_with_links_and_dict_widgets(node_info: Any) -> None:
    workflow = load("default_txt2img.json")
    workflow["nodes"].append(
        {
            "id": 10,
            "type": "MyCustomLoraStack",
            "order": 1,
            "mode": 0,
            "inputs": [{"name": "model", "type": "MODEL", "link": 1}],
            "outputs": [{"name": "MODEL", "type": "MODEL", "links": [10]}],
            "properties": {},
            "widgets_values": {"lora": "detail.safetensors", "strength": 0.8, "tags": ["a", "b"]},
        }
    )
    workflow["links"][0] = [1, 4, 0, 10, 0, "MODEL"]
    add_link(workflow, [10, 10, 0, 3, 0, "MODEL"])
    node(workflow, 3)["inputs"][0]["link"] = 10

    api = ui_to_api(workflow, node_info)

    assert api["10"] == {
        "class_type": "MyCustomLoraStack",
        "inputs": {
            "lora": "detail.safetensors",
            "strength": 0.8,
            "tags": {"__value__": ["a", "b"]},  # lists are wrapped so they don't read as links
            "model": ["4", 0],
        },
        "_meta": {"title": "MyCustomLoraStack"},
    }
    assert api["3"]["inputs"]["model"] == ["10", 0]


def test_undeclared_linked_input_passes_through(node_info: Any) -> None:
    workflow = load("default_txt2img.json")
    node(workflow, 9)["inputs"].append({"name": "images2", "type": "IMAGE", "link": 10})
    add_link(workflow, [10, 8, 0, 9, 1, "IMAGE"])
    api = ui_to_api(workflow, node_info)
    assert api["9"]["inputs"] == {
        "images": ["8", 0],
        "filename_prefix": "ComfyUI",
        "images2": ["8", 0],
    }


# --- malformed workflows ------------------------------------------------------------------


def _links_not_a_list(wf: dict[str, Any]) -> None:
    wf["links"] = {str(link[0]): link for link in wf["links"]}


def _node_without_id(wf: dict[str, Any]) -> None:
    del wf["nodes"][2]["id"]


def _link_id_is_a_string(wf: dict[str, Any]) -> None:
    node(wf, 3)["inputs"][0]["link"] = "1"


def _short_link_array(wf: dict[str, Any]) -> None:
    wf["links"][4] = [5, 4, 1]


def _v1_with_link_arrays(wf: dict[str, Any]) -> None:
    wf["version"] = 1


def _nodes_not_a_list(wf: dict[str, Any]) -> None:
    wf["nodes"] = {"3": wf["nodes"][0]}


@pytest.mark.parametrize(
    ("break_it", "expected"),
    [
        (_links_not_a_list, r"at links: .* is not of type 'array'"),
        (_node_without_id, r"at nodes\[2\]: 'id' is a required property"),
        (_link_id_is_a_string, r"at nodes\[3\] \(node 3\)\.inputs\[0\]\.link: '1' is not of type"),
        (_short_link_array, r"at links\[4\]: \[5, 4, 1\] is too short"),
        (_v1_with_link_arrays, r"at links\[\d+\]: \[.*\] is not of type 'object'"),
        (_nodes_not_a_list, r"at nodes: .* is not of type 'array'"),
    ],
)
def test_structural_errors_name_the_problem(
    node_info: Any, break_it: Callable[[dict[str, Any]], None], expected: str
) -> None:
    workflow = load("default_txt2img.json")
    break_it(workflow)
    with pytest.raises(WorkflowFormatError, match=expected):
        ui_to_api(workflow, node_info)


def test_non_object_workflow_is_rejected(node_info: Any) -> None:
    with pytest.raises(WorkflowFormatError, match=r"at top level: .* is not of type 'object'"):
        ui_to_api([1, 2, 3], node_info)  # type: ignore[arg-type]
    with pytest.raises(WorkflowFormatError, match="'nodes' is a required property"):
        ui_to_api({"links": []}, node_info)


def test_workflow_format_error_is_a_value_error() -> None:
    assert issubclass(WorkflowFormatError, ValueError)


def test_duplicate_node_id_is_rejected(node_info: Any) -> None:
    workflow = load("default_txt2img.json")
    workflow["nodes"].append(copy.deepcopy(node(workflow, 4)))
    with pytest.raises(WorkflowFormatError, match="node id 4 appears more than once"):
        ui_to_api(workflow, node_info)


def test_subgraph_instances_are_rejected(node_info: Any) -> None:
    workflow = load("default_txt2img_v1.json")
    subgraph_id = "a1b2c3d4-0000-4000-8000-123456789abc"
    workflow["definitions"] = {"subgraphs": [{"id": subgraph_id, "name": "Upscale", "nodes": []}]}
    workflow["nodes"].append(
        {"id": 20, "type": subgraph_id, "order": 7, "mode": 0, "inputs": [], "outputs": []}
    )
    with pytest.raises(WorkflowFormatError, match=r"node 20 .*subgraphs are not supported yet"):
        ui_to_api(workflow, node_info)


def test_reroute_cycle_is_reported(node_info: Any) -> None:
    workflow = load("reroute_primitive.json")
    # Reroute 10 now takes its input from Reroute 11, which takes its input from 10.
    add_link(workflow, [16, 11, 0, 10, 0, "*"])
    node(workflow, 10)["inputs"][0]["link"] = 16
    with pytest.raises(WorkflowFormatError, match=r"link \d+ into node 3 loops through Reroute"):
        ui_to_api(workflow, node_info)


# --- detection and the schema file ------------------------------------------------------


def test_is_ui_workflow_tells_the_formats_apart() -> None:
    assert is_ui_workflow(load("default_txt2img.json"))
    assert is_ui_workflow(load("default_txt2img_v1.json"))
    assert not is_ui_workflow(load("default_txt2img_api.json"))
    # An API prompt whose node happens to be called "nodes" is still an API prompt.
    assert not is_ui_workflow({"nodes": {"class_type": "SaveImage", "inputs": {}}})
    others: list[object] = [None, [], "nodes", 3, {"nodes": None}]
    for other in others:
        assert not is_ui_workflow(other)


def test_schema_is_packaged_and_valid_2020_12() -> None:
    resource = files("nodegraph").joinpath("schemas").joinpath("ui_workflow.schema.json")
    schema = json.loads(resource.read_text("utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for name in ("default_txt2img.json", "default_txt2img_v1.json", "reroute_primitive.json"):
        assert validator.is_valid(load(name)), name
