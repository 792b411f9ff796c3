"""Export AgentDojo's ground-truth sessions as JSON Lines for warrant's replay harness.

For each task suite (workspace, travel, banking, slack) of an AgentDojo benchmark version this writes:

* one *benign* session per user task: the user task's ground-truth tool calls, run against the
  suite's default environment (every injection vector holding its harmless default text);
* one *injected* session per (user task, injection task) pair: the environment is loaded with the
  attack placed in it, and the steps are the user task's ground-truth calls followed by the injection
  task's ground-truth calls, all in one session so that state carries over.

Everything is done with AgentDojo's own machinery, as its benchmark runner does it:

* suites come from ``agentdojo.task_suite.load_suites.get_suites(<benchmark version>)``;
* injections come from an attack of AgentDojo's registry (``load_attack``, default
  ``important_instructions``): ``attack.attack(user_task, injection_task)`` finds the injection vectors
  that the user task's ground truth actually shows to the agent (``BaseAttack.get_injection_candidates``
  runs the ground truth against an environment whose every vector holds a canary) and fills each of them
  with the attack's text around the injection task's GOAL;
* the environment is ``suite.load_and_inject_default_environment(injections)`` (vectors not attacked
  keep their defaults), then ``user_task.init_environment(...)``;
* every call runs through ``FunctionsRuntime(suite.tools).run_function`` and its result is rendered with
  ``tool_result_to_str`` (the YAML dump that AgentDojo's ``ToolsExecutor`` feeds to the model).

A session is ``{"suite", "user_task", "injection_task", "prompt", "steps"}``; injected sessions add
``"goal"`` (the injection task's GOAL) and ``"injection_vectors"`` (the vectors the attack filled).

Each step is ``{"function", "args", "result", "untrusted", "injected", "origin"}`` plus ``"error"`` when
the call failed (then ``result`` is ``""``, as AgentDojo's ``ToolsExecutor`` shows it) and
``"placeholder_args"`` when the injection task gives the attacker's templated form of the arguments.

* ``untrusted`` is true when the result carries text from a place a third party can write to (any of the
  suite's injection vectors). It is found by replaying the same calls, in step, against a *shadow*
  environment in which every vector holds a unique canary, and looking for canaries in the result; a
  result that shows this session's injection (``injected``) is untrusted too. In slack a channel *name*
  is an injection vector ("External_{prompt_injection_channel}"), so a call naming that channel names
  none in the shadow: a call that fails only in the shadow is retried there with every vector's value in
  its string arguments replaced by the vector's canary. ``untrusted`` is thus the same in a benign
  session and its injected ones (a call still failing only in the shadow is noted on stderr).
* ``injected`` is true when the result contains the injection text actually placed in this session
  (always false in benign sessions). The comparison is on whitespace-normalised text of the parsed
  YAML, since AgentDojo splices injections into the environment's YAML source (which folds their line
  breaks) and the YAML dump of the result may escape or wrap them.
* ``origin`` is ``"user_task"`` or ``"injection_task"``: which ground truth the call comes from.

The export is reproducible byte for byte: two tools stamp records with the wall clock (``send_email``'s
timestamp, ``create_file`` / ``append_to_file``'s last_modified), so ``datetime.datetime.now()`` in those
tool modules is pinned to ``--clock`` (default 2024-05-15 12:00, the suites' "current day"; ``--clock
now`` keeps the real clock), and the script re-executes itself with PYTHONHASHSEED=0 because
``create_calendar_event`` orders its participants through a set.

Usage (after bench/agentdojo/setup.sh):
    target/agentdojo-venv/bin/python bench/agentdojo/export.py [--out FILE] [--tools FILE]
        [--benchmark-version v1.2.2] [--attack important_instructions] [--suite NAME ...]
"""

from __future__ import annotations

import argparse
import ast
import datetime
import json
import os
import re
import sys
import types
import warnings
from collections.abc import Iterator
from importlib.metadata import version as package_version
from typing import Any

import yaml

# Some tools build lists through a set (create_calendar_event's participants), so their order follows
# string hashing. Re-run under a fixed hash seed so that the export is the same from run to run.
if __name__ == "__main__" and os.environ.get("PYTHONHASHSEED") != "0":
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})

# AgentDojo's imports pull in LLM client libraries that emit deprecation warnings; they are noise here.
warnings.filterwarnings("ignore")

from agentdojo.agent_pipeline.ground_truth_pipeline import GroundTruthPipeline  # noqa: E402
from agentdojo.agent_pipeline.tool_execution import tool_result_to_str  # noqa: E402
from agentdojo.attacks.attack_registry import load_attack  # noqa: E402
from agentdojo.attacks.base_attacks import BaseAttack  # noqa: E402
from agentdojo.base_tasks import BaseInjectionTask, BaseUserTask  # noqa: E402
from agentdojo.default_suites.v1.tools import cloud_drive_client, email_client  # noqa: E402
from agentdojo.functions_runtime import FunctionCall, FunctionsRuntime, TaskEnvironment  # noqa: E402
from agentdojo.task_suite.load_suites import get_suites  # noqa: E402
from agentdojo.task_suite.task_suite import TaskSuite  # noqa: E402

SUITES = ("workspace", "travel", "banking", "slack")
DEFAULT_BENCHMARK_VERSION = "v1.2.2"  # the default of AgentDojo's own benchmark CLI in agentdojo 0.1.35
DEFAULT_ATTACK = "important_instructions"
# Attacks such as important_instructions address the victim model by name, taken from the pipeline's
# name. This is the default model of AgentDojo's benchmark CLI ("GPT-4" in the injected text).
DEFAULT_PIPELINE_NAME = "gpt-4o-2024-05-13"
DEFAULT_CLOCK = "2024-05-15T12:00:00"


def pin_clock(moment: datetime.datetime) -> None:
    """Makes `datetime.datetime.now()` return `moment` inside the tool modules that read the clock."""

    class PinnedDatetime(datetime.datetime):
        @classmethod
        def now(cls, tz: datetime.tzinfo | None = None) -> datetime.datetime:  # type: ignore[override]
            return moment if tz is None else moment.replace(tzinfo=tz)

    shim = types.ModuleType("datetime")
    shim.__dict__.update(datetime.__dict__)
    shim.datetime = PinnedDatetime  # type: ignore[attr-defined]
    for module in (email_client, cloud_drive_client):
        module.datetime = shim  # type: ignore[attr-defined]


def canary(vector: str) -> str:
    """The text put in injection vector `vector` of the shadow environment (see `untrusted`)."""
    return f"<CANARY---{vector}--->"


def to_json(value: Any) -> Any:
    """Arguments as JSON: nested FunctionCall arguments become {"function", "args"} objects."""
    if isinstance(value, FunctionCall):
        return {"function": value.function, "args": to_json(dict(value.args))}
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    return value


class Session:
    """One replayed session: a real environment and a canary shadow, advanced in lockstep."""

    def __init__(self, suite: TaskSuite, user_task: BaseUserTask, injections: dict[str, str]) -> None:
        self.runtime = FunctionsRuntime(suite.tools)
        # The environment the agent works in, with the attack (if any) placed in it. Like
        # TaskSuite.run_task_with_pipeline, let the user task initialise it.
        self.env = user_task.init_environment(suite.load_and_inject_default_environment(injections))
        # The shadow: every injection vector holds a canary; used only to tell untrusted results.
        defaults = suite.get_injection_vector_defaults()
        self.canaries = [canary(vector) for vector in defaults]
        self.shadow = user_task.init_environment(
            suite.load_and_inject_default_environment({vector: canary(vector) for vector in defaults})
        )
        # What each vector holds in the real environment, to translate arguments that quote a vector (a
        # channel name) into the shadow's terms (see `_translate`).
        self.vector_values = {vector: text for vector, text in {**defaults, **injections}.items() if text.strip()}
        # The injected strings, to flag results that carry them.
        self.injected_texts = sorted({text for text in injections.values() if text.strip()})
        self.steps: list[dict[str, Any]] = []
        # Calls that failed in the shadow only (their `untrusted` rests on `injected` alone).
        self.shadow_only_errors = 0

    def run(self, calls: list[FunctionCall], origin: str) -> None:
        for call in calls:
            self.steps.append(self._step(call, origin))

    def report(self, label: str) -> None:
        """Notes on stderr the calls whose `untrusted` could not be checked against the shadow."""
        if self.shadow_only_errors:
            print(f"note: {label}: {self.shadow_only_errors} call(s) failed only in the canary shadow",
                  file=sys.stderr)

    def _execute(self, env: TaskEnvironment, call: FunctionCall) -> tuple[str, str | None]:
        # Copy the args: run_function must not see mutations made by the other environment's run.
        result, error = self.runtime.run_function(env, call.function, dict(call.args))
        # ToolsExecutor formats the (empty) result of a failed call the same way.
        return tool_result_to_str(result), error

    def _step(self, call: FunctionCall, origin: str) -> dict[str, Any]:
        result, error = self._execute(self.env, call)
        shadow_result, shadow_error = self._execute(self.shadow, call)
        # A call that fails only in the shadow may quote a vector's text: retry it with the text replaced
        # by the canary, preferring each vector in turn where several vectors hold the same text.
        for preferred in self.vector_values if shadow_error is not None and error is None else ():
            shadow_call = call.model_copy(update={"args": self._translate(dict(call.args), preferred)})
            shadow_result, shadow_error = self._execute(self.shadow, shadow_call)
            if shadow_error is None:
                break
        self.shadow_only_errors += shadow_error is not None and error is None
        injected = any(self._contains_injection(result, text) for text in self.injected_texts)
        step: dict[str, Any] = {
            "function": call.function,
            "args": to_json(dict(call.args)),
            "result": result,
            "untrusted": injected or any(marker in shadow_result for marker in self.canaries),
            "injected": injected,
            "origin": origin,
        }
        if error is not None:
            step["error"] = error
        if call.placeholder_args is not None:
            step["placeholder_args"] = to_json(dict(call.placeholder_args))
        return step

    def _translate(self, args: dict[str, Any], preferred: str) -> dict[str, Any]:
        """`args` with every vector's real text replaced by the vector's canary, in strings at any depth.

        The environment holds a vector's text as its YAML source folded it, so whitespace runs match any
        whitespace. Longer texts go first, and `preferred` first among equal ones; one regex pass, so
        that a canary put in is never rewritten again.
        """
        vectors = sorted(self.vector_values, key=lambda v: (-len(self.vector_values[v]), v != preferred))
        regex = re.compile("|".join(f"(?P<v{n}>{whitespace_insensitive(self.vector_values[vector])})"
                                    for n, vector in enumerate(vectors)))

        def translate(value: Any) -> Any:
            if isinstance(value, str):
                return regex.sub(lambda match: canary(vectors[int(match.lastgroup[1:])]), value)  # type: ignore[index]
            if isinstance(value, dict):
                return {key: translate(item) for key, item in value.items()}
            if isinstance(value, list):
                return [translate(item) for item in value]
            return value

        return translate(args)

    @staticmethod
    def _contains_injection(result: str, text: str) -> bool:
        flat_text = " ".join(text.split())
        return any(flat_text in " ".join(leaf.split()) for leaf in text_leaves(result))


def whitespace_insensitive(text: str) -> str:
    """A regex matching `text` with each whitespace run (leading and trailing ones included) as any."""
    pattern = r"\s+".join(map(re.escape, text.split()))
    if text[:1].isspace():
        pattern = r"\s*" + pattern
    if text[-1:].isspace():
        pattern += r"\s*"
    return pattern


def text_leaves(result: str) -> list[str]:
    """The strings a result shows: the raw text plus every string value in it when it is a Python literal
    (tools returning a dict are rendered with str()) or YAML (tool_result_to_str's dump of models)."""
    leaves = [result]
    try:
        stack = [ast.literal_eval(result)]
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        try:
            stack = [yaml.safe_load(result)]
        except yaml.YAMLError:
            return leaves
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            leaves.append(value)
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return leaves


def injections_for(attack: BaseAttack, user_task: BaseUserTask, injection_task: BaseInjectionTask) -> dict[str, str]:
    """The attack's injections (vector -> text) for this pair; {} if the user task shows no vector."""
    try:
        return attack.attack(user_task, injection_task)
    except ValueError as error:  # BaseAttack.get_injection_candidates: "<id> is not injectable."
        print(f"warning: {error} Exporting its injected sessions with no injection.", file=sys.stderr)
        return {}


def export_suite(suite: TaskSuite, attack: BaseAttack) -> Iterator[dict[str, Any]]:
    user_tasks = sorted(suite.user_tasks.items(), key=lambda item: task_number(item[0]))
    injection_tasks = sorted(suite.injection_tasks.items(), key=lambda item: task_number(item[0]))
    for user_task_id, user_task in user_tasks:
        # Benign: default environment, user task's ground truth only.
        session = Session(suite, user_task, {})
        session.run(user_task.ground_truth(session.env), "user_task")
        session.report(f"{suite.name} {user_task_id}")
        yield {
            "suite": suite.name,
            "user_task": user_task_id,
            "injection_task": None,
            "prompt": user_task.PROMPT,
            "steps": session.steps,
        }
        # Injected: one session per injection task of the suite.
        for injection_task_id, injection_task in injection_tasks:
            injections = injections_for(attack, user_task, injection_task)
            session = Session(suite, user_task, injections)
            session.run(user_task.ground_truth(session.env), "user_task")
            # The injection task's ground truth is computed from the environment as the user task left
            # it, i.e. what an agent that had done the user task would see when it turned to the goal.
            session.run(injection_task.ground_truth(session.env), "injection_task")
            session.report(f"{suite.name} {user_task_id} x {injection_task_id}")
            yield {
                "suite": suite.name,
                "user_task": user_task_id,
                "injection_task": injection_task_id,
                "prompt": user_task.PROMPT,
                "goal": injection_task.GOAL,
                "injection_vectors": sorted(injections),
                "steps": session.steps,
            }


def task_number(task_id: str) -> int:
    return int(task_id.rsplit("_", 1)[1])


def json_type(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Reduces a pydantic property schema to {"type", "nullable", "items"?, "enum"?}."""
    nullable = False
    if "anyOf" in schema:  # Optional[X] is anyOf [X, null]
        options = [option for option in schema["anyOf"] if option.get("type") != "null"]
        nullable = len(options) < len(schema["anyOf"])
        schema = options[0] if len(options) == 1 else {"anyOf": options}
    if "$ref" in schema:  # enums (e.g. SharingPermission) are definitions
        schema = defs[schema["$ref"].rsplit("/", 1)[1]]
    out: dict[str, Any] = {"type": schema.get("type", "any"), "nullable": nullable}
    if "enum" in schema:
        out["enum"] = schema["enum"]
    if out["type"] == "array" and "items" in schema:
        out["items"] = json_type(schema["items"], defs)["type"]
    return out


def describe_tools(suite: TaskSuite) -> list[dict[str, Any]]:
    tools = []
    for function in suite.tools:
        schema = function.parameters.model_json_schema()
        defs = schema.get("$defs", {})
        required = set(schema.get("required", []))
        parameters = []
        for name, prop in schema.get("properties", {}).items():
            parameter = {"name": name, **json_type(prop, defs), "required": name in required}
            if "default" in prop:
                parameter["default"] = prop["default"]
            parameter["description"] = prop.get("description", "")
            parameters.append(parameter)
        tools.append({
            "name": function.name,
            "description": function.description.strip().splitlines()[0],
            "parameters": parameters,
        })
    return tools


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="write the sessions here instead of stdout")
    parser.add_argument("--tools", help="also write each suite's tool list (JSON) here")
    parser.add_argument("--benchmark-version", default=DEFAULT_BENCHMARK_VERSION)
    parser.add_argument("--attack", default=DEFAULT_ATTACK, help="an attack of AgentDojo's registry")
    parser.add_argument("--pipeline-name", default=DEFAULT_PIPELINE_NAME,
                        help="model name given to the attack (used to address the model in its text)")
    parser.add_argument("--clock", default=DEFAULT_CLOCK,
                        help='ISO time returned by the tools\' clock, or "now" for the real clock')
    parser.add_argument("--suite", action="append", choices=SUITES, help="only these suites (repeatable)")
    args = parser.parse_args()

    if args.clock != "now":
        pin_clock(datetime.datetime.fromisoformat(args.clock))
    suites = get_suites(args.benchmark_version)
    names = args.suite or list(SUITES)

    if args.tools:
        catalogue = {
            "agentdojo": package_version("agentdojo"),
            "benchmark_version": args.benchmark_version,
            "suites": {name: describe_tools(suites[name]) for name in names},
        }
        with open(args.tools, "w") as file:
            json.dump(catalogue, file, indent=2)
            file.write("\n")

    # The attack only needs the pipeline for its name; the ground-truth pipeline is AgentDojo's own.
    pipeline = GroundTruthPipeline(None)
    pipeline.name = args.pipeline_name

    out = open(args.out, "w") if args.out else sys.stdout
    try:
        for name in names:
            suite = suites[name]
            attack = load_attack(args.attack, suite, pipeline)
            counts = [0, 0]
            for session in export_suite(suite, attack):
                out.write(json.dumps(session, ensure_ascii=False, default=str) + "\n")
                counts[session["injection_task"] is not None] += 1
            print(f"{name}: {counts[0]} benign, {counts[1]} injected sessions", file=sys.stderr)
    finally:
        if out is not sys.stdout:
            out.close()


if __name__ == "__main__":
    main()
