// The workflow model: a ComfyUI UI workflow (schema 0.4) edited in place by pure functions.
// No DOM here, so every rule (linking, widgets, conversion to an API prompt) is unit-tested
// with node's test runner. `defs` is always the /object_info map {class_type: entry}.
//
// This file is only a façade: it re-exports the public API of the graph_*.js modules that hold
// the code, so `import { ... } from './graph.js'` keeps working. Internal helpers those modules
// share with each other are deliberately not re-exported here.
//   graph_defs.js     node definitions, widget specs, value clamping, canConnect, type colours
//   graph_edit.js     lookups, nodes, links, reroutes, groups, clipboard
//   graph_widgets.js  widget values, control_after_generate
//   graph_history.js  undo/redo
//   graph_convert.js  UI workflow -> API prompt (toPrompt)
//   graph_load.js     loading and normalising saved workflows (loadWorkflow)

export {
  CONTROL_MODES, DEFAULT_CONTROL_MODE, FRONTEND_DEFS, FRONTEND_ONLY_TYPES, MODE_ALWAYS,
  MODE_BYPASS, MODE_MUTED, canConnect, clampWidgetValue, declaredInputs, nodeDef, nodeTitle,
  typeColor, widgetSpecs,
} from './graph_defs.js';
export {
  addGroup, addReroute, connect, copyNodes, createNode, disconnect, emptyWorkflow, findLink,
  findNode, nodesInGroup, pasteNodes, removeLink, removeNodes, rerouteType, updateRerouteTypes,
} from './graph_edit.js';
export {
  applyControlAfterGenerate, getControlMode, getWidget, setControlMode, setWidget,
} from './graph_widgets.js';
export { History } from './graph_history.js';
export { toPrompt } from './graph_convert.js';
export { loadWorkflow } from './graph_load.js';
