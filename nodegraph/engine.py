"""The Python API: load, validate and run workflows headless with one object."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from nodegraph.cache import OutputCache
from nodegraph.context import InterruptFlag
from nodegraph.events import EventSink
from nodegraph.execute import Executor, RunResult
from nodegraph.plugins import load_registry
from nodegraph.registry import Registry, node_info
from nodegraph.services import Services
from nodegraph.settings import Settings
from nodegraph.ui_workflow import is_ui_workflow, ui_to_api
from nodegraph.validate import Validation, validate_prompt


class ValidationFailed(ValueError):
    """The workflow did not validate; `.validation.to_json()` is ComfyUI's 400 body."""

    def __init__(self, validation: Validation) -> None:
        error = validation.error
        assert error is not None
        super().__init__(f"{error.message}: {error.details}" if error.details else error.message)
        self.validation = validation


class Engine:
    """Registry + executor + settings wired together; the output cache lives as long as it.

    >>> engine = Engine()
    >>> result = engine.run(json.load(open("workflows/hello_text.json")))
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        registry: Registry | None = None,
        node_modules: Iterable[str] = (),
        cache: OutputCache | None = None,
        services: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.registry = registry if registry is not None else load_registry(node_modules)
        self.services = Services(self.registry.service_factories, self.settings, services)
        self.executor = Executor(self.registry, self.settings, cache, self.services)

    def free(self, *, unload_models: bool = True, free_memory: bool = True) -> None:
        """ComfyUI's /free: drop cached outputs and/or let services unload their models."""
        if free_memory:
            self.executor.cache.clear()
        if unload_models:
            self.services.free()

    def object_info(self, class_type: str | None = None) -> dict[str, Any]:
        """ComfyUI's /object_info, or the entry of one class (`{}` when unknown)."""
        if class_type is None:
            return self.registry.object_info(self.settings)
        spec = self.registry.get(class_type)
        return {} if spec is None else {class_type: node_info(spec, class_type, self.settings)}

    def to_api(self, workflow: Mapping[str, Any]) -> dict[str, Any]:
        """Accept API or UI format; UI workflows are converted as ComfyUI's frontend does."""
        if is_ui_workflow(workflow):
            return ui_to_api(dict(workflow), self._node_info)
        return dict(workflow)

    def _node_info(self, class_type: str) -> dict[str, Any] | None:
        spec = self.registry.get(class_type)
        return None if spec is None else node_info(spec, class_type, self.settings)

    def validate(
        self, workflow: Mapping[str, Any], partial_targets: Iterable[str] | None = None
    ) -> Validation:
        """Every validation error at once, in ComfyUI's shapes."""
        return validate_prompt(self.registry, self.to_api(workflow), partial_targets, self.settings)

    def run(
        self,
        workflow: Mapping[str, Any],
        *,
        prompt_id: str | None = None,
        partial_targets: Iterable[str] | None = None,
        extra_data: Mapping[str, Any] | None = None,
        on_event: EventSink | None = None,
        interrupt: InterruptFlag | None = None,
    ) -> RunResult:
        """Validate then execute; raises ValidationFailed when no output can run."""
        validation = self.validate(workflow, partial_targets)
        if not validation.ok:
            raise ValidationFailed(validation)
        return self.execute(
            validation,
            prompt_id=prompt_id,
            extra_data=extra_data,
            on_event=on_event,
            interrupt=interrupt,
        )

    def execute(
        self,
        validation: Validation,
        *,
        prompt_id: str | None = None,
        extra_data: Mapping[str, Any] | None = None,
        on_event: EventSink | None = None,
        interrupt: InterruptFlag | None = None,
    ) -> RunResult:
        """Execute an accepted validation, reusing the node specs and order it found."""
        return self.executor.execute(
            validation.prompt,
            validation.outputs,
            prompt_id=prompt_id or str(uuid.uuid4()),
            extra_data=extra_data,
            on_event=on_event,
            interrupt=interrupt,
            specs=validation.specs,
            order=validation.order,
        )
