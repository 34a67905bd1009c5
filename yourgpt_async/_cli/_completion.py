"""``yourgpt-async completion bash|zsh``: a shell completion script, written from the argparse
parser itself, so that it completes every command, option and choice the parser knows."""

from __future__ import annotations

import argparse
import shlex

__all__ = ["completion_script"]

_FILE_OPTIONS = frozenset({"--journal", "--output", "--fault-plan", "--seed"})
"""Options whose value is a path: completed with file names."""

_FUNCTION = "_yourgpt_async"


def _options(parser: argparse.ArgumentParser) -> tuple[list[str], dict[str, str]]:
    """The option strings of ``parser``, and how each option's value completes: its choices,
    ``@file`` for a path, or ``@none``."""
    flags: list[str] = []
    values: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) or not action.option_strings:
            continue
        if action.help == argparse.SUPPRESS:
            continue
        flags.extend(action.option_strings)
        if action.nargs == 0:
            continue
        if action.choices is not None:
            completion = " ".join(str(choice) for choice in action.choices)
        elif action.dest == "order":
            completion = "ASC DESC"
        elif set(action.option_strings) & _FILE_OPTIONS:
            completion = "@file"
        else:
            completion = "@none"
        for option in action.option_strings:
            values[option] = completion
    return flags, values


def _commands(
    parser: argparse.ArgumentParser, prefix: str = ""
) -> dict[str, argparse.ArgumentParser]:
    """Every command by its whole name (``"train add-faq"``): a group, then its subcommands."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, command in action.choices.items():
                path = f"{prefix} {name}".strip()
                found[path] = command
                found.update(_commands(command, path))
    return found


def _subcommands(parser: argparse.ArgumentParser) -> list[str]:
    """The names of a group's subcommands (none for a command)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []


def _positionals(parser: argparse.ArgumentParser) -> str:
    """How a command's positional arguments complete: a file, its choices, or nothing."""
    for action in parser._actions:
        if action.option_strings or isinstance(action, argparse._SubParsersAction):
            continue
        if action.choices is not None:
            return " ".join(str(choice) for choice in action.choices)
        if action.dest == "file":
            return "@file"
    return "@none"


def _cases(parser: argparse.ArgumentParser) -> tuple[list[str], list[str]]:
    """The script's ``case`` branches: what each command's words complete to, and how each
    option's value completes (keyed ``command:--option``)."""
    commands = _commands(parser)
    top = [name for name in commands if " " not in name]
    top_flags, _ = _options(parser)
    patterns: dict[str, list[str]] = {}  # how a value completes -> "command:--option" patterns
    word_cases = [f'        "") words={shlex.quote(" ".join([*top_flags, *top]))} ;;']
    for name, command in {"": parser, **commands}.items():
        flags, values = _options(command)
        for option, completion in values.items():
            patterns.setdefault(completion, []).append(shlex.quote(f"{name}:{option}"))
        if name:
            words = [*_subcommands(command), *flags]
            word_cases.append(
                f"        {shlex.quote(name)}) words={shlex.quote(' '.join(words))}; "
                f"positional={shlex.quote(_positionals(command))} ;;"
            )
    value_cases = [
        f"        {'|'.join(names)}) values={shlex.quote(completion)} ;;"
        for completion, names in patterns.items()
    ]
    return word_cases, value_cases


def _bash(parser: argparse.ArgumentParser, program: str) -> str:
    commands = _commands(parser)
    word_cases, value_cases = _cases(parser)
    names = "|".join(shlex.quote(name) for name in commands if " " not in name)
    paths = "|".join(shlex.quote(name) for name in commands if " " in name) or "''"
    return f"""\
# {program} completion for bash (and zsh through bashcompinit): `{program} completion bash`
{_FUNCTION}() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    local command="" values="" words="" positional="@none" i
    for ((i = 1; i < COMP_CWORD; i++)); do
        if [[ -z $command ]]; then
            case "${{COMP_WORDS[i]}}" in
                {names}) command="${{COMP_WORDS[i]}}" ;;
            esac
        else
            case "$command ${{COMP_WORDS[i]}}" in
                {paths}) command="$command ${{COMP_WORDS[i]}}"; break ;;
            esac
        fi
    done
    case "$command:$prev" in
{chr(10).join(value_cases)}
    esac
    if [[ -n $values ]]; then
        case "$values" in
            @file) COMPREPLY=($(compgen -f -- "$cur")) ;;
            @none) COMPREPLY=() ;;
            *) COMPREPLY=($(compgen -W "$values" -- "$cur")) ;;
        esac
        return 0
    fi
    case "$command" in
{chr(10).join(word_cases)}
    esac
    if [[ $cur != -* && -n $command ]]; then
        case "$positional" in
            @file) COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
            @none) ;;
            *) COMPREPLY=($(compgen -W "$positional" -- "$cur")); return 0 ;;
        esac
    fi
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
    return 0
}}
complete -o filenames -F {_FUNCTION} {program}
"""


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script of ``parser``'s program for ``shell`` (``bash`` or ``zsh``)."""
    program = parser.prog
    script = _bash(parser, program)
    if shell == "zsh":
        return (
            f"# {program} completion for zsh: `{program} completion zsh`\n"
            "autoload -U +X bashcompinit && bashcompinit\n" + script
        )
    return script
