"""Reads template.yaml so the local runtime wires functions and state machines exactly as SAM deploys them.

Only what the runtime needs is resolved: each function's code, handler, timeout and environment, and each state
machine's definition file and substitutions. Intrinsics resolve against parameter values (defaults unless overridden),
pseudo parameters, and the local names and ARNs the runtime gives functions; anything else is an error naming the path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ddbkeeper.errors import InvalidInput

_SUB_REFERENCE = re.compile(r"\$\{([^}!]+)\}")


# libyaml's parser when PyYAML was built with it: it reads template.yaml in a tenth of the pure-Python one's time.
if TYPE_CHECKING:
    _SafeLoader = yaml.SafeLoader
else:
    _SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CfnLoader(_SafeLoader):
    """YAML with CloudFormation's short-form tags (!Ref, !GetAtt, !Sub...) read as their long forms."""


def _construct_tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def read_cfn(path: Path) -> dict[str, Any]:
    """A CloudFormation YAML file, short-form tags and all."""
    with path.open(encoding="utf-8") as stream:
        body: dict[str, Any] = yaml.load(stream, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    return body


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str
    timeout: int
    memory_mb: int
    environment: dict[str, str]


@dataclass(frozen=True)
class StateMachineSpec:
    logical_id: str
    workflow: str  # the definition file's stem: statemachines/backup.asl.json -> "backup"
    definition_path: Path
    substitutions: dict[str, Any]


@dataclass
class StackTemplate:
    path: Path
    parameters: dict[str, str] = field(default_factory=dict)
    region: str = "us-east-1"
    account_id: str = "123456789012"
    stack_name: str = "ddbkeeper-local"

    def __post_init__(self) -> None:
        self.body = read_cfn(self.path)
        self.root = self.path.parent
        self.resources: dict[str, Any] = self.body.get("Resources", {})
        unknown = set(self.parameters) - set(self.body.get("Parameters", {}))
        if unknown:
            raise InvalidInput(f"parameters: {sorted(unknown)} are not parameters of {self.path.name}")

    def functions(self) -> dict[str, FunctionSpec]:
        defaults = self.body.get("Globals", {}).get("Function", {})
        specs = {}
        for logical_id, resource in self._resources_of("AWS::Serverless::Function").items():
            props = resource.get("Properties", {})
            variables = {
                **defaults.get("Environment", {}).get("Variables", {}),
                **props.get("Environment", {}).get("Variables", {}),
            }
            specs[logical_id] = FunctionSpec(
                logical_id=logical_id,
                code_uri=self.root / self.resolve(props["CodeUri"], f"{logical_id}.CodeUri"),
                handler=self.resolve(props["Handler"], f"{logical_id}.Handler"),
                timeout=int(self.resolve(props.get("Timeout", defaults.get("Timeout", 3)), f"{logical_id}.Timeout")),
                memory_mb=int(self.resolve(props.get("MemorySize", defaults.get("MemorySize", 128)), logical_id)),
                environment={
                    name: str(self.resolve(value, f"{logical_id}.Environment.{name}"))
                    for name, value in variables.items()
                },
            )
        return specs

    def state_machines(self, function_arn: Callable[[str], str]) -> dict[str, StateMachineSpec]:
        specs = {}
        for logical_id, resource in self._resources_of("AWS::Serverless::StateMachine").items():
            props = resource.get("Properties", {})
            if "DefinitionUri" not in props:
                raise InvalidInput(
                    f"{logical_id}: the local runtime needs DefinitionUri (an ASL file), not an inline definition"
                )
            path = self.root / self.resolve(props["DefinitionUri"], f"{logical_id}.DefinitionUri")
            substitutions = {
                name: self.resolve(value, f"{logical_id}.DefinitionSubstitutions.{name}", function_arn)
                for name, value in props.get("DefinitionSubstitutions", {}).items()
            }
            workflow = path.name.removesuffix(".asl.json")
            specs[workflow] = StateMachineSpec(logical_id, workflow, path, substitutions)
        return specs

    def _resources_of(self, kind: str) -> dict[str, Any]:
        return {name: res for name, res in self.resources.items() if res.get("Type") == kind}

    def parameter(self, name: str) -> str | list[str]:
        """A parameter's value (given, else its default); a CommaDelimitedList is a list, as CloudFormation has it."""
        declared = self.body.get("Parameters", {}).get(name)
        if declared is None:
            raise InvalidInput(f"template: no parameter or resource named {name}")
        value = self.parameters.get(name, str(declared.get("Default", "")))
        return value.split(",") if declared.get("Type") == "CommaDelimitedList" else value

    def resolve(self, value: Any, where: str, function_arn: Callable[[str], str] | None = None) -> Any:
        """Evaluate the intrinsics the runtime needs; `function_arn` maps a function's logical id to its local ARN."""
        if not isinstance(value, Mapping):
            return value
        if len(value) != 1:
            return {key: self.resolve(item, f"{where}.{key}", function_arn) for key, item in value.items()}
        ((name, argument),) = value.items()
        intrinsics = {"Ref": self._ref_of, "Fn::GetAtt": self._get_att, "Fn::Sub": self._sub, "Fn::Join": self._join}
        if name in intrinsics:
            return intrinsics[name](argument, where, function_arn)
        if name.startswith("Fn::"):
            raise InvalidInput(f"{where}: the local runtime does not evaluate {name}")
        return {name: self.resolve(argument, f"{where}.{name}", function_arn)}

    def _ref_of(self, argument: Any, where: str, function_arn: Callable[[str], str] | None) -> Any:
        return self._ref(str(argument), where, function_arn)

    def _get_att(self, argument: Any, where: str, function_arn: Callable[[str], str] | None) -> Any:
        logical_id, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
        if (
            attribute == "Arn"
            and function_arn
            and self.resources.get(logical_id, {}).get("Type") == ("AWS::Serverless::Function")
        ):
            return function_arn(logical_id)
        raise InvalidInput(f"{where}: the local runtime cannot resolve !GetAtt {logical_id}.{attribute}")

    def _sub(self, argument: Any, where: str, function_arn: Callable[[str], str] | None) -> Any:
        template, variables = (argument, {}) if isinstance(argument, str) else argument
        local = {key: self.resolve(item, where, function_arn) for key, item in variables.items()}

        def substitute(match: re.Match[str]) -> str:
            key = match.group(1)
            if key in local:
                return str(local[key])
            if "." in key:
                return str(self._get_att(key.split(".", 1), where, function_arn))
            return str(self._ref(key, where, function_arn))

        return _SUB_REFERENCE.sub(substitute, template)

    def _join(self, argument: Any, where: str, function_arn: Callable[[str], str] | None) -> Any:
        delimiter, items = argument
        resolved = self.resolve(items, where, function_arn)
        parts = resolved if isinstance(resolved, list) else [resolved]
        return str(delimiter).join(str(self.resolve(part, where, function_arn)) for part in parts)

    def _ref(self, name: str, where: str, function_arn: Callable[[str], str] | None) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": "aws",
            "AWS::StackName": self.stack_name,
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.resources:
            resource = self.resources[name]
            if function_arn and resource.get("Type") == "AWS::Serverless::Function":
                return function_arn(name).rsplit(":", 1)[-1]
            if resource.get("Type") == "AWS::S3::Bucket":  # its name, or a stand-in for the one CloudFormation makes up
                named = resource.get("Properties", {}).get("BucketName")
                return self.resolve(named, where) if named else f"{self.stack_name}-{name.lower()}"
            raise InvalidInput(f"{where}: the local runtime cannot resolve !Ref {name}")
        return self.parameter(name)
