"""validate, plan and apply: from a spec (or a reviewed plan file) to a changed account."""

from __future__ import annotations

import asyncio
import dataclasses
import shlex
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from turnstile_sync.cli.base import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    Connection,
    cli,
    confirmed,
    connection_options,
    describe_target,
    force_option,
    load_spec,
    open_client,
    secret_handler,
    secrets_out_option,
    spec_argument,
    warn,
)
from turnstile_sync.cli.delivery import (
    abandon,
    abandoned_on_signals,
    make_delivery,
    push_command,
    secrets_exec_options,
    undelivered_remedy,
    warn_undelivered,
)
from turnstile_sync.cli.output import FORMATS, PlanView, format_option
from turnstile_sync.quoting import excerpt

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pydantic import SecretStr

    from turnstile_sync.actions import Action, Plan
    from turnstile_sync.applier import ApplyReport
    from turnstile_sync.client import TurnstileClient
    from turnstile_sync.connection import Target
    from turnstile_sync.models import LiveWidget, WidgetDetail
    from turnstile_sync.planfile import ReviewedPlan
    from turnstile_sync.secret_delivery import SecretDelivery, SecretEvent, Undelivered
    from turnstile_sync.secrets_sink import SecretsSink
    from turnstile_sync.spec import LoadedSpec


@cli.command()
@click.argument("spec_paths", metavar="[SPEC]...", nargs=-1, type=click.Path(dir_okay=False))
def validate(spec_paths: tuple[str, ...]) -> int:
    """Check each SPEC (default widgets.yaml) offline. Nothing is sent anywhere."""
    from turnstile_sync.defaults import DEFAULT_SPEC
    from turnstile_sync.errors import SpecError
    from turnstile_sync.spec import widget_key_problems

    failures: list[SpecError] = []
    for spec_path in spec_paths or (DEFAULT_SPEC,):
        try:
            loaded = load_spec(spec_path)
        except SpecError as error:
            failures.append(error)
            continue
        count = len(loaded.spec.widgets)
        click.echo(f"{loaded.source}: valid ({count} widget{'s' if count != 1 else ''}).")
        for problem in widget_key_problems(loaded):
            warn(f"{problem.format(loaded.source)} (--secrets-exec and output will refuse it)")
    for failure in failures:
        from turnstile_sync.render import github

        if github.active():
            for line in github.spec_error_annotations(failure):
                click.echo(line, err=True)
        click.echo(f"Error: {failure}", err=True)
    if failures:
        raise click.exceptions.Exit(EXIT_ERROR)
    return EXIT_OK


def _account(account_id: str | None, loaded: LoadedSpec) -> str:
    from turnstile_sync.connection import resolve_account_id

    return resolve_account_id(account_id, loaded.spec.account_id, warn=warn)


@dataclasses.dataclass(frozen=True)
class Selecting:
    """--target and --replace as given on the command line: the planner does the selecting,
    so guards, protection, plan files and the JSON document all see the selected plan."""

    targets: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()

    def flags(self) -> list[str]:
        """The same options again, shell-quoted, for the command a message suggests."""
        return [f"--target {shlex.quote(t)}" for t in self.targets] + [
            f"--replace {shlex.quote(r)}" for r in self.replace
        ]


def selection_options(function: Any) -> Any:
    """--target and --replace, shared by plan and apply."""
    function = click.option(
        "--replace",
        "replace",
        metavar="NAME",
        multiple=True,
        help="Replace this managed live widget (name or sitekey) even if its settings match "
        "the spec, e.g. for a sitekey or secret that must change. Repeatable. A destructive "
        "action: guards count it and protection refuses it.",
    )(function)
    return click.option(
        "--target",
        "targets",
        metavar="NAME",
        multiple=True,
        help="Limit the plan to the widgets this name, sitekey or glob (e.g. 'checkout-*') "
        "selects, in the spec or the account. Repeatable. Other changes may be pending; "
        "guards and protection still apply. `apply --plan` needs the --target and --replace "
        "flags the plan was made with.",
    )(function)


async def _plan(
    client: TurnstileClient,
    loaded: LoadedSpec,
    target: Target,
    force: bool,
    view: PlanView,
    selecting: Selecting,
) -> Plan:
    from turnstile_sync.actions import Plan
    from turnstile_sync.errors import GuardError
    from turnstile_sync.planner import plan

    live = await client.list_widgets()
    header = (
        f"{loaded.source}: {len(loaded.spec.widgets)} widget(s) in the spec; "
        + describe_target(client.account_id, target, len(live))
    )
    try:
        result = plan(
            loaded.spec,
            live,
            account_id=client.account_id,
            force=force,
            targets=selecting.targets,
            replace=selecting.replace,
        )
    except GuardError as refused:
        if isinstance(refused.plan, Plan):
            view.show(refused.plan, header, refused.reasons)  # what was refused, and why
            for message in refused.plan.warnings:
                warn(message)
        raise
    view.show(result, header)
    for message in result.warnings:
        warn(message)
    return result


def _plan_document(plan: Plan, loaded: LoadedSpec, target: Target, force: bool) -> dict[str, Any]:
    """The plan-file document: what `plan --out` writes and what `apply --plan` re-derives
    and compares with the reviewed file, so both are made by the same code."""
    from turnstile_sync import planfile
    from turnstile_sync.guards import Protection

    return planfile.dump(
        plan,
        target=target.identity,
        spec_path=loaded.source,
        spec_sha256=loaded.sha256,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        protection=Protection.of(loaded.spec),
        guards=planfile.GuardSettings(max_deletes=loaded.spec.max_deletes, forced=force),
    )


ACCOUNT_HELP = "Cloudflare account id; overrides the spec's account_id and CLOUDFLARE_ACCOUNT_ID."


@cli.command("plan")
@spec_argument
@connection_options(account_help=ACCOUNT_HELP)
@force_option
@selection_options
@click.option(
    "--out",
    "plan_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the plan to this file, for `apply --plan` after review.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 2 when the account differs from the spec (drift), 0 when it does not; 1 is "
    "always an error. Unmanaged widgets count only with prune or --fail-on-unmanaged.",
)
@click.option(
    "--fail-on-unmanaged",
    is_flag=True,
    help="Also exit 2 when live widgets are not in the spec (implies --detailed-exitcode).",
)
@format_option(*FORMATS)
def plan_command(
    spec_path: str,
    connection: Connection,
    force: bool,
    targets: tuple[str, ...],
    replace: tuple[str, ...],
    plan_out: Path | None,
    detailed_exitcode: bool,
    fail_on_unmanaged: bool,
    output_format: str,
) -> int:
    """Show what apply would change to make the account match SPEC. Changes nothing.

    With --target, only the selected widgets are planned, and --detailed-exitcode exits 2
    only for their changes."""
    selecting = Selecting(targets, replace)
    loaded = load_spec(spec_path)
    account = _account(connection.account_id, loaded)
    target = connection.target
    view = PlanView(output_format, target.identity, loaded, fail_on_unmanaged)

    async def run() -> Plan:
        async with open_client(account, target) as client:
            return await _plan(client, loaded, target, force, view, selecting)

    plan = asyncio.run(run())
    if plan_out is not None:
        from turnstile_sync import planfile

        planfile.write(plan_out, _plan_document(plan, loaded, target, force))
        flags = [shlex.quote(str(spec_path)), "--plan", shlex.quote(str(plan_out))]
        if force:
            flags.append("--force")
        flags += selecting.flags()
        if connection.account_id:
            flags += ["--account-id", shlex.quote(account)]
        if target.emulator:
            flags += ["--emulator", "--emulator-db", shlex.quote(str(target.emulator_db))]
        click.echo(
            f"Plan written to {plan_out}. Apply exactly it (with the spec it was made from, "
            f"unchanged) with: turnstile-sync apply {' '.join(flags)}" + _destination_hint(plan),
            err=True,
        )
    drifted = plan.has_changes or (fail_on_unmanaged and bool(plan.unmanaged))
    # --fail-on-unmanaged promises a failing exit code, which only --detailed-exitcode gives:
    # alone, it used to be silently ignored, so it implies it.
    return EXIT_CHANGES if (detailed_exitcode or fail_on_unmanaged) and drifted else EXIT_OK


def _destination_hint(plan: Plan) -> str:
    """A plan that creates widgets makes secrets that are shown once: the apply command it
    suggests must say where they go, or copying it would strand them."""
    from turnstile_sync.actions import ActionKind

    new = plan.count(ActionKind.CREATE) + plan.count(ActionKind.REPLACE)
    if not new:
        return ""
    return (
        f" --secrets-out FILE (the plan makes {new} new widget(s) whose secrets are shown "
        "only once: save them to FILE, mode 0600, or hand each to a command with "
        "--secrets-exec COMMAND instead)"
    )


@cli.command("apply")
@spec_argument
@connection_options(account_help=ACCOUNT_HELP)
@force_option
@selection_options
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Apply this reviewed plan (from `plan --out`) without asking again: the plan is "
    "re-derived from SPEC and the live account, and applied only if it is exactly the reviewed "
    "one; otherwise refused, naming what differs. The file never chooses the spec.",
)
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation.")
@secrets_out_option()
@secrets_exec_options
@click.option(
    "--parallelism",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="How many API requests may be in flight at once.",
)
@format_option("text", "json")
def apply_command(
    spec_path: str,
    connection: Connection,
    force: bool,
    targets: tuple[str, ...],
    replace: tuple[str, ...],
    plan_file: Path | None,
    auto_approve: bool,
    secrets_out: Path | None,
    secrets_exec: tuple[str, ...],
    secrets_exec_timeout: float,
    parallelism: int,
    output_format: str,
) -> int:
    """Plan, show the plan, ask for 'yes', then change the account to match SPEC."""
    from turnstile_sync.secrets_sink import SecretsSink
    from turnstile_sync.spec import require_widget_keys

    selecting = Selecting(targets, replace)
    sink = SecretsSink(secrets_out) if secrets_out is not None else None
    if sink is not None:
        click.get_current_context().call_on_close(sink.close)
    target = dataclasses.replace(connection.target, parallelism=parallelism)
    account_id = connection.account_id
    if plan_file is not None:
        reviewed, loaded = _load_reviewed(plan_file, target, spec_path)
        _check_selection(plan_file, reviewed, selecting)
        if secrets_exec:
            require_widget_keys(loaded, "--secrets-exec")
        account = _account(account_id, loaded)
        _check_account(plan_file, reviewed, account)
        view = PlanView(output_format, target.identity, loaded, deferred=True)
        delivery = make_delivery(account, sink, secrets_exec, secrets_exec_timeout)
        run_ = _Delivering(delivery, spec_path, target, account_id)

        async def run_reviewed() -> tuple[Plan, ApplyReport | None]:
            async with open_client(account, target) as client:
                await _recover(client, run_, target)
                plan = await _rederive(
                    client, reviewed, loaded, plan_file, target, force, view, selecting
                )
                if not plan.has_changes:
                    return plan, None
                _warn_if_secrets_unsaved(plan, delivery)
                return plan, await _apply(client, plan, run_, parallelism, target)

        return _finish(*asyncio.run(run_reviewed()), run_, view)

    loaded = load_spec(spec_path)
    if secrets_exec:
        require_widget_keys(loaded, "--secrets-exec")
    account = _account(account_id, loaded)
    view = PlanView(output_format, target.identity, loaded, deferred=True)
    delivery = make_delivery(account, sink, secrets_exec, secrets_exec_timeout)
    run_ = _Delivering(delivery, spec_path, target, account_id)

    async def run() -> tuple[Plan, ApplyReport | None]:
        async with open_client(account, target) as client:
            await _recover(client, run_, target)
            plan = await _plan(client, loaded, target, force, view, selecting)
            if not plan.has_changes:
                return plan, None
            _warn_if_secrets_unsaved(plan, delivery)
            if not auto_approve:
                if not confirmed(
                    "Apply these changes?", refusing_to="apply", ci_remedy=CI_APPLY_REMEDY
                ):
                    raise click.exceptions.Exit(_cancelled())
                await _still_as_reviewed(client, plan)
            return plan, await _apply(client, plan, run_, parallelism, target)

    return _finish(*asyncio.run(run()), run_, view)


@dataclasses.dataclass
class _Delivering:
    """Where this apply's secrets go, and what did not arrive (for the remedy)."""

    delivery: SecretDelivery
    spec_path: str
    target: Target
    account_id: str | None
    failures: list[Undelivered] = dataclasses.field(default_factory=list)
    recovered_undelivered: list[tuple[str, str, Undelivered]] = dataclasses.field(
        default_factory=list
    )
    """(name, sitekey, where) of secrets recovered from the journal that a destination did
    not take: the run fails (exit 1) with the `secrets push` remedy, whatever else it did."""

    @property
    def sink(self) -> SecretsSink | None:
        return self.delivery.sink

    async def deliver(
        self, name: str, sitekey: str, secret: SecretStr, event: SecretEvent
    ) -> tuple[Undelivered, ...]:
        failures = await self.delivery.deliver(name, sitekey, secret, event)
        self.failures += failures
        return failures

    def push_command(self) -> str:
        return push_command(
            self.spec_path,
            self.target,
            secrets_out=self.sink.path if self.sink is not None else None,
            commands=bool(self.delivery.commands),
            account_id=self.account_id,
        )

    def abandoned(self) -> str:
        """What to do after the running commands were killed (a second Ctrl-C, SIGTERM)."""
        return (
            "The secrets they were delivering may not have arrived; once the run has stopped, "
            f"`{self.push_command()}` re-delivers every secret."
        )

    def remedy(self) -> str:
        secrets_out = self.sink.path if self.sink is not None else None
        return undelivered_remedy(
            self.failures, self.spec_path, self.target, self.account_id, secrets_out
        )


CI_APPLY_REMEDY = "add --auto-approve, or apply a reviewed plan with --plan FILE (see `plan --out`)"


def _cancelled() -> int:
    click.echo("Apply cancelled. Nothing was changed.", err=True)
    return EXIT_ERROR


def _load_reviewed(plan_file: Path, target: Target, spec: str) -> tuple[ReviewedPlan, LoadedSpec]:
    """The reviewed file and the spec to re-derive it from.

    The spec is SPEC from the command line (default widgets.yaml), never the path recorded in
    the file: a file that chose its spec could point at any other spec on the runner whose
    digest it can compute. SPEC must be, byte for byte, the spec the plan was made from."""
    from turnstile_sync import planfile
    from turnstile_sync.planfile import PlanFileError

    reviewed = planfile.load(plan_file)
    if reviewed.target != target.identity:
        raise PlanFileError(
            f"{plan_file} was planned against {excerpt(reviewed.target)}, not {target.identity}; "
            "make the plan against the target you apply to"
        )
    recorded = reviewed.spec_path
    click.echo(f"Re-deriving the plan from the spec {spec}.", err=True)
    if planfile.spec_digest(spec) != reviewed.spec_sha256:
        raise PlanFileError(_other_spec_message(plan_file, spec, recorded))
    loaded = load_spec(spec)
    if loaded.sha256 != reviewed.spec_sha256:  # changed between the check and the read
        raise PlanFileError(f"{spec} changed while it was being read; apply again")
    return reviewed, loaded


def _other_spec_message(plan_file: Path, spec: str, recorded: str) -> str:
    """SPEC's digest differs from the plan's: either SPEC is the file the plan was made from
    and it was edited since, or it is another file (often the default widgets.yaml, when the
    plan was made from change.yaml): say which, and the command that applies the plan."""
    if _same_file(spec, recorded):
        return (
            f"{spec} changed since {plan_file} was made from it; nothing was changed: plan "
            "again and review"
        )
    shown = excerpt(recorded, 200)
    command = (
        f" (`turnstile-sync apply {shlex.quote(recorded)} --plan {shlex.quote(str(plan_file))}`)"
        if shown == recorded
        else ""
    )
    return (
        f"{plan_file} was made from the spec {shown}, and {spec} is not that spec as it was "
        f"(the SPEC given, default widgets.yaml; their SHA-256 differ). Nothing was changed: "
        f"apply the plan with the spec it was made from{command}, or make a new plan from "
        f"{spec} and review it"
    )


def _same_file(spec: str, recorded: str) -> bool:
    """Whether two spellings name one file (``widgets.yaml`` and ``./widgets.yaml``)."""
    if spec == recorded:
        return True
    try:
        return Path(spec).resolve() == Path(recorded).resolve()
    except (OSError, ValueError):  # a recorded path with a NUL byte, or a loop
        return False


def _check_selection(plan_file: Path, reviewed: ReviewedPlan, selecting: Selecting) -> None:
    """`apply --plan` selects with its own --target and --replace, like --force: its command
    line is reviewed, the file is not. The file records what it was planned with, and the two
    must agree, so a file can never widen (or change) what is applied, and a reviewer who
    saw a targeted plan gets exactly it or a refusal."""
    from turnstile_sync.planfile import PlanFileError, recorded_selection

    problems = []
    given_targets = recorded_selection(selecting.targets)
    if reviewed.targets != (None if given_targets is None else tuple(given_targets)):
        problems.append(
            f"--target: {_described(reviewed.targets, 'a whole-account plan')} in the file, "
            f"{_described(given_targets, 'none (the whole account)')} on this command line"
        )
    given_replace = tuple(sorted(set(selecting.replace)))
    if reviewed.replace != given_replace:
        problems.append(
            f"--replace: {_described(reviewed.replace, 'none')} in the file, "
            f"{_described(given_replace, 'none')} on this command line"
        )
    if problems:
        listing = "\n".join(f"  - {problem}" for problem in problems)
        raise PlanFileError(
            f"{plan_file} was made with other --target/--replace flags than this apply:\n"
            f"{listing}\nApply a plan file with exactly the --target and --replace flags of "
            "the `plan --out` that made it (the command line selects; the file only records "
            "and cannot widen). Nothing was changed."
        )


def _described(values: Sequence[str] | None, empty: str) -> str:
    if not values:
        return empty
    return ", ".join(excerpt(repr(value), 80) for value in values)


def _check_account(plan_file: Path, reviewed: ReviewedPlan, account: str) -> None:
    """The account comes from --account-id, the spec or CLOUDFLARE_ACCOUNT_ID, never the file."""
    from turnstile_sync.planfile import PlanFileError

    if reviewed.plan.account_id != account:
        raise PlanFileError(
            f"{plan_file} is a plan for account {excerpt(reviewed.plan.account_id)}, not {account} "
            "(the "
            "account this apply resolves from --account-id, the spec's account_id or "
            "CLOUDFLARE_ACCOUNT_ID)"
        )


async def _rederive(
    client: TurnstileClient,
    reviewed: ReviewedPlan,
    loaded: LoadedSpec,
    plan_file: Path,
    target: Target,
    force: bool,
    view: PlanView,
    selecting: Selecting,
) -> Plan:
    """Plan again from the spec and the live account; return that plan only if it is the
    reviewed one. Stale widgets are reported first, per widget; then every other difference.
    Protection and guards are those of the re-derived plan (``plan`` raises GuardError)."""
    from turnstile_sync import planfile
    from turnstile_sync.actions import Plan
    from turnstile_sync.errors import GuardError
    from turnstile_sync.planfile import PlanFileError
    from turnstile_sync.planner import plan as derive

    live = await client.list_widgets()
    stale = planfile.stale_actions(reviewed.plan.actions, reviewed.expectations, live)
    if stale:
        listing = "\n".join(f"  - {problem}" for problem in stale)
        raise PlanFileError(
            f"{plan_file} is stale: {len(stale)} widget(s) changed since it was made:\n"
            f"{listing}\nNothing was changed. Make a new plan and review it."
        )
    try:
        derived = derive(
            loaded.spec,
            live,
            account_id=client.account_id,
            force=force,
            targets=selecting.targets,
            replace=selecting.replace,
        )
    except GuardError as refused:
        if isinstance(refused.plan, Plan):
            header = f"{plan_file}: reviewed plan, re-derived and refused"
            view.show(refused.plan, header, refused.reasons)
        raise
    document = _plan_document(derived, loaded, target, force)
    differences = planfile.receipt_differences(reviewed.document, document)
    if differences:
        listing = "\n".join(f"  - {line}" for line in differences)
        raise PlanFileError(
            f"{plan_file} does not match what the spec and the account give now:\n{listing}\n"
            "Nothing was changed. A plan file is a receipt: only the plan re-derived from the "
            "spec and the account is ever applied. Make a new plan and review it."
        )
    view.show(
        derived,
        f"{plan_file}: reviewed plan, re-derived and matching; "
        + describe_target(client.account_id, target, len(live)),
    )
    for message in derived.warnings:
        warn(message)
    return derived


async def _still_as_reviewed(client: TurnstileClient, plan: Plan) -> None:
    """While someone read the plan and typed 'yes', the account may have changed; an update
    would then write back stale values of fields the spec does not manage."""
    from turnstile_sync import planfile
    from turnstile_sync.planfile import PlanFileError

    stale = planfile.stale_actions(
        plan.actions, planfile.expectations(plan), await client.list_widgets()
    )
    if stale:
        listing = "\n".join(f"  - {problem}" for problem in stale)
        raise PlanFileError(
            f"the account changed while the plan waited for confirmation:\n{listing}\n"
            "Nothing was changed. Run apply again to see a fresh plan."
        )


def _warn_if_secrets_unsaved(plan: Plan, delivery: SecretDelivery) -> None:
    from turnstile_sync.actions import ActionKind

    creates = plan.count(ActionKind.CREATE) + plan.count(ActionKind.REPLACE)
    if creates and not delivery.any:
        warn(
            f"{creates} new widget(s) will get secrets that are not saved anywhere: pass "
            "--secrets-out FILE or --secrets-exec COMMAND to deliver them (they can be "
            "delivered later with `turnstile-sync secrets push`)."
        )


async def _recover(
    client: TurnstileClient,
    run: _Delivering,
    target: Target,
    live: list[LiveWidget] | None = None,
    *,
    by: str = "an earlier run",
) -> None:
    """Complete the secrets file with the secrets an earlier, interrupted run created but did
    not save (its journal says which), before anything else happens; say what was done.
    After applying (``live`` given), it catches what this run's own failures left behind.
    Recovered secrets go to every destination of this run (event ``push``)."""
    sink = run.sink
    if sink is None:
        return
    from turnstile_sync.recovery import recover
    from turnstile_sync.secret_delivery import SecretEvent

    async def store(name: str, sitekey: str, secret: SecretStr) -> bool:
        failures = await run.deliver(name, sitekey, secret, SecretEvent.PUSH)
        warn_undelivered(name, sitekey, failures)
        run.recovered_undelivered += [(name, sitekey, failure) for failure in failures]
        return not any(failure.to_file for failure in failures)

    with abandoned_on_signals(asyncio.get_running_loop(), run.abandoned()):
        recovery = await recover(client, sink, target.identity, store, live)
    if recovery.recovered:
        listing = ", ".join(f"{name!r} ({sitekey})" for name, sitekey in recovery.recovered)
        click.echo(
            f"Recovered the secrets of {len(recovery.recovered)} widget(s) created by {by} "
            f"that did not save them: {listing}; written to {sink.path} (mode 0600).",
            err=True,
        )
    for name, sitekeys in recovery.ambiguous:
        warn(
            f"the secret of {name!r} may be missing from {sink.path}: a run created a widget "
            f"with that name and did not save its secret, and {len(sitekeys)} new widgets now "
            f"have the name ({', '.join(sitekeys)}). Delete the one you do not want (another "
            "apply ran at the same time?), then run `turnstile-sync get-secret SITEKEY "
            f"--secrets-out {sink.path}`."
        )
    if recovery.elsewhere and live is None:  # said once, before anything is applied
        warn(
            f"{sink.journal.path} lists {recovery.elsewhere} widget(s) created in another "
            "account or target whose secrets may not have been saved: run apply with this "
            "--secrets-out against that account to recover them."
        )


async def _apply(
    client: TurnstileClient,
    plan: Plan,
    run: _Delivering,
    parallelism: int,
    target: Target,
) -> ApplyReport:
    """Run the plan, then re-read the account once to verify the end state it promised.

    Before the first create, the sink's journal durably records every widget about to be
    created, so that a run killed before their secrets are saved is completed by the next one.
    Commands (--secrets-exec) have no journal: see ``_interrupted_remedy``.
    The first Ctrl-C (or SIGTERM) stops new actions and lets in-flight ones finish; a second
    one kills the running --secrets-exec commands and cancels the actions in flight; either
    way the report of what was done follows (an abandoned run skips the re-read)."""
    from turnstile_sync.actions import ActionKind
    from turnstile_sync.applier import apply
    from turnstile_sync.errors import TurnstileSyncError
    from turnstile_sync.recovery import intents_for
    from turnstile_sync.render.text import ApplyProgress, make_console
    from turnstile_sync.secret_delivery import SecretEvent
    from turnstile_sync.verify import end_state_problems

    if run.sink is not None:
        run.sink.journal.add(intents_for(plan, target.identity))
    stop = asyncio.Event()
    abandoning = asyncio.Event()
    loop = asyncio.get_running_loop()

    def abandoned() -> None:
        from turnstile_sync.secrets_exec import kill_running_commands

        for number in signals:  # a third one ends the process (main: "Interrupted.")
            loop.add_signal_handler(number, abandon, run.abandoned())
        abandoning.set()
        killed = kill_running_commands()
        click.echo("\nAbandoning the actions in flight.", err=True)
        if killed:
            click.echo(
                f"Killed {killed} running --secrets-exec command(s). {run.abandoned()}", err=True
            )

    def interrupted() -> None:
        stop.set()
        for number in signals:  # the second one abandons
            loop.add_signal_handler(number, abandoned)
        click.echo(
            "\nInterrupted: no new action will start; waiting for the ones in flight "
            "(Ctrl-C again to abandon them)." + _interrupted_remedy(run),
            err=True,
        )

    async def deliver(action: Action, widget: WidgetDetail) -> tuple[str, ...]:
        event = SecretEvent.CREATE if action.kind is ActionKind.CREATE else SecretEvent.REPLACE
        failures = await run.deliver(action.name, widget.sitekey, widget.secret, event)
        return tuple(str(failure) for failure in failures)

    progress = ApplyProgress(len(plan.actions), make_console(stderr=True))
    signals = (signal.SIGINT, signal.SIGTERM)  # SIGTERM (a CI cancel) is a Ctrl-C too
    for number in signals:
        loop.add_signal_handler(number, interrupted)
    try:
        report = await apply(
            plan,
            client,
            parallelism=parallelism,
            on_result=progress,
            deliver=deliver if run.delivery.any else None,
            on_secret=None if run.delivery.any else _mask_only,
            stop=stop,
            abandon=abandoning,
        )
    finally:
        for number in signals:
            loop.remove_signal_handler(number)
        progress.close()
    if report.abandoned:  # asked to stop now: no more requests
        return report
    try:
        live = await client.list_widgets()
        problems = end_state_problems(plan, report, live)
        await _recover(client, run, target, live, by="this run")
    except TurnstileSyncError as error:
        problems = [
            f"the account could not be re-read to verify what this run did ({error}); run "
            "plan to see where it stands"
        ]
    return dataclasses.replace(report, verification=tuple(problems))


def _mask_only(action: Action, widget: WidgetDetail) -> None:
    """No destination: the secret is still masked in GitHub Actions logs, as before."""
    secret_handler(None)(action.name, widget.sitekey, widget.secret)


def _interrupted_remedy(run: _Delivering) -> str:
    """Commands keep no journal (a CI runner, the usual place for them, is gone by the next
    run), so an interrupted run says here how to make their stores whole."""
    if not run.delivery.commands:
        return ""
    return (
        " Secrets of widgets created by this run may not have reached the --secrets-exec "
        f"command(s); once it has stopped, `{run.push_command()}` re-delivers every secret."
    )


def _finish(plan: Plan, report: ApplyReport | None, run: _Delivering, view: PlanView) -> int:
    sink = run.sink
    written = str(sink.path) if sink is not None and sink.written else None
    view.report(plan, report, written, commands=len(run.delivery.commands))
    if report is not None and report.verification and view.output_format == "json":
        from turnstile_sync.verify import CONCURRENT_APPLY_REMEDY

        listing = "\n".join(f"  - {problem}" for problem in report.verification)
        click.echo(
            f"Error: the account is not as this apply left it:\n{listing}\n"
            + CONCURRENT_APPLY_REMEDY,
            err=True,
        )
    if report is not None and report.undelivered:
        listing = "\n".join(
            f"  - {result.action.name!r} ({result.sitekey}): {problem}"
            for result in report.undelivered
            for problem in result.undelivered
        )
        click.echo(
            f"Error: {len(report.undelivered)} new secret(s) were not delivered:\n{listing}\n"
            + run.remedy(),
            err=True,
        )
    if run.recovered_undelivered:
        listing = "\n".join(
            f"  - {name!r} ({sitekey}): {failure}"
            for name, sitekey, failure in run.recovered_undelivered
        )
        click.echo(
            "Error: secrets recovered from an interrupted run were not delivered:\n"
            f"{listing}\n" + run.remedy(),
            err=True,
        )
        return EXIT_ERROR
    return EXIT_OK if report is None or report.ok else EXIT_ERROR
