"""``rootline problems`` (with its tasks and SLAs) and ``worker``: the root-cause workflow.

Commands parse, call a ``rootline.rootcause`` service and render. The changes are made as
``cli:<login>`` in the audit trail.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import typer

from rootline.cli.console import out_console
from rootline.cli.context import JsonOpt, app_state, cli_actor, parse_date, print_json
from rootline.db import session_scope
from rootline.errors import InputError

__all__ = [
    "problems_app",
    "register",
    "sla_app",
    "task_app",
    "worker",
]

problems_app = typer.Typer(
    help="Problems: themes promoted to owned root-cause work.", no_args_is_help=True
)
task_app = typer.Typer(help="Tasks under a problem.", no_args_is_help=True)
sla_app = typer.Typer(help="Service levels per priority.", no_args_is_help=True)

_OPEN_TASK_STATES = frozenset({"open", "in_progress"})
VersionOpt = Annotated[
    int | None, typer.Option("--version", help="The version you saw; refused if it changed.")
]


def _sla(session: Any, problem: Any) -> list[dict[str, Any]]:
    from rootline.rootcause.sla import clocks, policies

    policy = policies(session)[problem.priority]
    return [c.as_dict() for c in clocks(problem, policy)]


def _show(problem: Any, sla: list[dict[str, Any]]) -> None:
    from rootline.rootcause.schemas import ProblemOut

    out = ProblemOut.of(problem, detail=True)
    lines = [
        f"#{out.id} [{out.priority}] {out.title}  ({out.state}, version {out.version})",
        f"themes: {', '.join(map(str, out.theme_ids))}   impact {out.impact_score:.0f}: "
        f"{out.impact.get('explanation', '')}",
        f"business team: {out.business_team or '-'}   IS team: {out.is_team or '-'}",
        f"routing: {out.routing_explanation}",
    ]
    for label, value in (
        ("root cause", out.root_cause),
        ("workaround", out.workaround),
        ("fix", out.fix_description),
        ("fixed at", out.fixed_at),
        ("tags", ", ".join(out.tags)),
    ):
        if value:
            lines.append(f"{label}: {value}")
    lines += [
        f"SLA {c['stage'].replace('_', ' ')} due {c['due_at'][:16].replace('T', ' ')} UTC: "
        f"{c['in_words']}"
        for c in sla
    ]
    lines += [f"task {t.id} [{t.state}] {t.title} due {t.due_date or '-'}" for t in out.tasks]
    lines += [f"{c.created_at:%Y-%m-%d %H:%M} {c.author}: {c.body}" for c in out.comments]
    out_console.print("\n".join(lines), markup=False, highlight=False)


@problems_app.command("create")
def create(
    ctx: typer.Context,
    themes: Annotated[list[int], typer.Option("--theme", help="Theme id (repeat for several).")],
    title: Annotated[str | None, typer.Option(help="Title (default: the themes' titles).")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Tag, e.g. ux or web.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Promote one or more themes to a problem, routed to its owner teams."""
    from rootline.rootcause.schemas import ProblemOut
    from rootline.rootcause.service import create_problem

    state = app_state(ctx)
    with session_scope(state.sessions) as session:
        problem = create_problem(
            session,
            themes,
            title=title,
            tags=tag or [],
            actor=cli_actor(),
            webhook_url=state.settings.webhook_url,
        )
        out = ProblemOut.of(problem)
    if as_json:
        print_json(out.model_dump(mode="json"))
        return
    out_console.print(
        f"problem {out.id} created [{out.priority}] {out.title}\n"
        f"routing: {out.routing_explanation}",
        markup=False,
        highlight=False,
    )


@problems_app.command("list")
def list_(
    ctx: typer.Context,
    state_filter: Annotated[list[str] | None, typer.Option("--state", help="Only these.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List problems, highest priority first."""
    from rich.table import Table

    from rootline.rootcause.schemas import ProblemOut
    from rootline.rootcause.service import list_problems

    with session_scope(app_state(ctx).sessions) as session:
        items = [ProblemOut.of(p) for p in list_problems(session, states=state_filter)]
    if as_json:
        print_json([p.model_dump(mode="json") for p in items])
        return
    table = Table("id", "prio", "state", "title", "business", "IS", "impact")
    for p in items:
        table.add_row(
            str(p.id),
            p.priority,
            p.state,
            p.title,
            p.business_team or "-",
            p.is_team or "-",
            f"{p.impact_score:.0f}",
        )
    out_console.print(table)


@problems_app.command("show")
def show(ctx: typer.Context, problem_id: int, as_json: JsonOpt = False) -> None:
    """Show a problem: routing, SLA clocks, tasks, comments (--json adds the audit trail)."""
    from rootline.rootcause.audit import history
    from rootline.rootcause.figures import theme_figures
    from rootline.rootcause.schemas import AuditOut, ProblemOut
    from rootline.rootcause.service import get_problem

    with session_scope(app_state(ctx).sessions) as session:
        problem = get_problem(session, problem_id)
        if as_json:
            data = ProblemOut.of(problem, detail=True).model_dump(mode="json")
            # Today's figures of the problem's themes together; impact_score stays the
            # problem's own (set when it was opened, its priority's basis).
            for figures in theme_figures(session, problem.theme_ids, together=True).values():
                data |= {k: v for k, v in figures.as_dict().items() if k != "impact_score"}
            data["sla"] = _sla(session, problem)
            data["audit"] = [
                AuditOut.of(e).model_dump(mode="json")
                for e in history(session, "problem", problem_id)
            ]
            print_json(data)
            return
        _show(problem, _sla(session, problem))


@problems_app.command("transition")
def transition_(
    ctx: typer.Context,
    problem_id: int,
    target: Annotated[str, typer.Argument(metavar="STATE", help="The state to move to.")],
    reason: Annotated[str | None, typer.Option(help="Why; kept as a comment.")] = None,
    version: VersionOpt = None,
    accept_without_data: Annotated[
        bool,
        typer.Option(
            "--accept-without-data",
            help="With STATE verified: accept the fix though the data does not show it "
            "working yet (needs --reason; audited).",
        ),
    ] = False,
) -> None:
    """Move a problem to another state of its life cycle (verified: when the data says so)."""
    from rootline.rootcause.verification import move_problem

    with session_scope(app_state(ctx).sessions) as session:
        problem = move_problem(
            session,
            problem_id,
            target,
            actor=cli_actor(),
            reason=reason,
            expected_version=version,
            accept_without_data=accept_without_data,
        )
        out_console.print(f"problem {problem.id} is now {problem.state}", markup=False)


@problems_app.command("assign")
def assign_(
    ctx: typer.Context,
    problem_id: int,
    business: Annotated[str | None, typer.Option("--business", help="Business team.")] = None,
    is_team: Annotated[str | None, typer.Option("--is", help="IS (IT) team.")] = None,
    version: VersionOpt = None,
) -> None:
    """Give a problem to a business team and/or an IS team by hand."""
    from rootline.rootcause.service import assign

    if business is None and is_team is None:
        raise InputError("give --business TEAM and/or --is TEAM")
    state = app_state(ctx)
    with session_scope(state.sessions) as session:
        problem = assign(
            session,
            problem_id,
            business=business,
            is_team=is_team,
            actor=cli_actor(),
            expected_version=version,
            webhook_url=state.settings.webhook_url,
        )
        biz = problem.business_team.name if problem.business_team else "-"
        it = problem.is_team.name if problem.is_team else "-"
        out_console.print(f"problem {problem.id}: business {biz}, IS {it}", markup=False)


@problems_app.command("update")
def update(
    ctx: typer.Context,
    problem_id: int,
    title: Annotated[str | None, typer.Option()] = None,
    description: Annotated[str | None, typer.Option()] = None,
    root_cause: Annotated[str | None, typer.Option("--root-cause")] = None,
    workaround: Annotated[str | None, typer.Option()] = None,
    priority: Annotated[str | None, typer.Option(help="P1-P4; overrides the impact's.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Replaces the tags.")] = None,
    link: Annotated[list[str] | None, typer.Option("--link", help="LABEL=URL; replaces.")] = None,
    version: VersionOpt = None,
) -> None:
    """Record the root cause, workaround, priority, tags or links of a problem."""
    from rootline.rootcause.service import update_problem

    changes: dict[str, Any] = {
        k: v
        for k, v in {
            "title": title,
            "description": description,
            "root_cause": root_cause,
            "workaround": workaround,
            "priority": priority,
            "tags": tag,
        }.items()
        if v is not None
    }
    if link is not None:
        changes["links"] = [
            {"label": part.split("=", 1)[0], "url": part.split("=", 1)[-1]} for part in link
        ]
    if not changes:
        raise InputError("nothing to change; see rootline problems update --help")
    with session_scope(app_state(ctx).sessions) as session:
        problem = update_problem(
            session, problem_id, changes, actor=cli_actor(), expected_version=version
        )
        out_console.print(f"problem {problem.id} updated (version {problem.version})", markup=False)


@problems_app.command("fix")
def fix(
    ctx: typer.Context,
    problem_id: int,
    fixed_on: Annotated[str, typer.Option("--date", help="When the fix shipped, YYYY-MM-DD.")],
    description: Annotated[str | None, typer.Option(help="What was changed.")] = None,
) -> None:
    """Record the fix and its date (the start of the after-window for verification)."""
    from rootline.rootcause.service import record_fix

    day = parse_date(fixed_on, "--date")
    with session_scope(app_state(ctx).sessions) as session:
        problem = record_fix(session, problem_id, day, description=description, actor=cli_actor())
        out_console.print(
            f"problem {problem.id}: fix recorded on {day}, state {problem.state}", markup=False
        )


@problems_app.command("verify")
def verify(
    ctx: typer.Context,
    problem_id: int,
    as_of: Annotated[str | None, typer.Option("--as-of", help="End of data, YYYY-MM-DD.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare the theme's contact rate before and after the fix: verified, not_yet or failed.

    A resolved problem whose fix is verified moves to verified.
    """
    from rootline.rootcause.verification import verify_problem
    from rootline.rootcause.watch import apply_verdict

    end = None
    if as_of:
        end = datetime.combine(parse_date(as_of, "--as-of"), datetime.min.time(), tzinfo=UTC)
    state = app_state(ctx)
    with session_scope(state.sessions) as session:
        result = verify_problem(session, problem_id, end)
        moved = apply_verdict(
            session, result, actor=cli_actor(), webhook_url=state.settings.webhook_url
        )
    data = result.as_dict()
    data["state_change"] = moved
    if as_json:
        print_json(data)
        return
    out_console.print(f"{result.verdict}: {result.reason}", markup=False, highlight=False)
    for key in (
        "window_days",
        "before_theme_contacts",
        "before_all_contacts",
        "before_rate",
        "after_theme_contacts",
        "after_all_contacts",
        "after_rate",
        "z",
        "p_value",
    ):
        out_console.print(f"  {key:22} {data[key]}", markup=False, highlight=False)


@problems_app.command("comment")
def comment(ctx: typer.Context, problem_id: int, text: str) -> None:
    """Add a comment to a problem."""
    from rootline.rootcause.service import add_comment

    with session_scope(app_state(ctx).sessions) as session:
        add_comment(session, problem_id, text, actor=cli_actor())


@task_app.command("add")
def task_add(
    ctx: typer.Context,
    problem_id: int,
    title: str,
    team: Annotated[str | None, typer.Option(help="Owner team.")] = None,
    user: Annotated[str | None, typer.Option(help="Owner's e-mail.")] = None,
    due: Annotated[str | None, typer.Option(help="Due date, YYYY-MM-DD.")] = None,
) -> None:
    """Add a task under a problem."""
    from rootline.rootcause.service import add_task
    from rootline.rootcause.teams import user_by_email

    with session_scope(app_state(ctx).sessions) as session:
        owner = user_by_email(session, user).id if user else None
        added = add_task(
            session,
            problem_id,
            title,
            owner_team=team,
            owner_user_id=owner,
            due_date=parse_date(due, "--due") if due else None,
            actor=cli_actor(),
        )
        out_console.print(f"task {added.id} added to problem {problem_id}", markup=False)


@task_app.command("list")
def task_list(
    ctx: typer.Context,
    problem_id: Annotated[int | None, typer.Argument(help="The problem's tasks.")] = None,
    user: Annotated[
        str | None,
        typer.Option(
            help="Instead: this person's tasks (theirs, and their teams' unassigned ones)."
        ),
    ] = None,
    include_done: Annotated[bool, typer.Option("--all", help="Also done and cancelled.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List the open tasks of a problem or of a person, earliest due first."""
    from rich.table import Table

    from rootline.rootcause.models import Team, User
    from rootline.rootcause.schemas import TaskOut
    from rootline.rootcause.service import get_problem, my_tasks
    from rootline.rootcause.teams import user_by_email

    if (problem_id is None) == (user is None):
        raise InputError("give a PROBLEM_ID or --user EMAIL")
    with session_scope(app_state(ctx).sessions) as session:
        if user is not None:
            tasks = my_tasks(session, user_by_email(session, user).id, include_done)
        else:
            tasks = [
                t
                for t in get_problem(session, problem_id or 0).tasks
                if include_done or t.state in _OPEN_TASK_STATES
            ]
            tasks.sort(key=lambda t: (t.due_date is None, t.due_date or date.max, t.id))
        items = []
        for t in tasks:
            team = session.get(Team, t.owner_team_id) if t.owner_team_id else None
            owner = session.get(User, t.owner_user_id) if t.owner_user_id else None
            items.append(
                {
                    **TaskOut.of(t).model_dump(mode="json"),
                    "owner_team": team.name if team else None,
                    "owner_user": owner.email if owner else None,
                }
            )
    if as_json:
        print_json(items)
        return
    table = Table("id", "problem", "state", "title", "team", "owner", "due")
    for i in items:
        table.add_row(
            str(i["id"]),
            str(i["problem_id"]),
            i["state"],
            i["title"],
            i["owner_team"] or "-",
            i["owner_user"] or "-",
            i["due_date"] or "-",
        )
    out_console.print(table)


@task_app.command("done")
def task_done(
    ctx: typer.Context,
    task_ids: Annotated[list[int], typer.Argument(metavar="TASK_ID...", help="Tasks done.")],
    cancel: Annotated[bool, typer.Option("--cancel", help="Cancelled, not done.")] = False,
) -> None:
    """Mark tasks done (or cancelled with --cancel)."""
    from rootline.rootcause.service import set_task_state

    state = "cancelled" if cancel else "done"
    with session_scope(app_state(ctx).sessions) as session:
        for task_id in task_ids:
            set_task_state(session, task_id, state, actor=cli_actor())
    for task_id in task_ids:
        out_console.print(f"task {task_id} {state}", markup=False)


@sla_app.command("list")
def sla_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The SLA of each priority: hours to assess, to find the root cause, to fix."""
    from rich.table import Table

    from rootline.rootcause.sla import DEFAULT_POLICIES, policies

    with session_scope(app_state(ctx).sessions) as session:
        table_ = policies(session)
    items = [
        {
            "priority": prio,
            "hours_to_assess": float(p.assess),
            "hours_to_root_cause": float(p.root_cause),
            "hours_to_fix": float(p.fix),
            "default": p == DEFAULT_POLICIES[prio],
        }
        for prio, p in sorted(table_.items())
    ]
    if as_json:
        print_json(items)
        return
    table = Table("priority", "assess (h)", "root cause (h)", "fix (h)", "")
    for i in items:
        table.add_row(
            i["priority"],
            f"{i['hours_to_assess']:g}",
            f"{i['hours_to_root_cause']:g}",
            f"{i['hours_to_fix']:g}",
            "default" if i["default"] else "set",
        )
    out_console.print(table)


def _hours(help_: str) -> Any:
    return typer.Option(help=f"Hours {help_}; default: unchanged.")


@sla_app.command("set")
def sla_set(
    ctx: typer.Context,
    priority: Annotated[str, typer.Argument(help="P1, P2, P3 or P4.")],
    assess: Annotated[float | None, _hours("to assess a new problem")] = None,
    root_cause: Annotated[float | None, _hours("to find the root cause")] = None,
    fix: Annotated[float | None, _hours("to fix (resolve) it")] = None,
) -> None:
    """Set the SLA of a priority; the clocks of open problems follow at the next check."""
    from rootline.rootcause.sla import Policy, policies, set_policy

    if assess is None and root_cause is None and fix is None:
        raise InputError("give --assess, --root-cause and/or --fix HOURS")
    priority = priority.strip().upper()
    with session_scope(app_state(ctx).sessions) as session:
        current = policies(session).get(priority)
        if current is None:
            raise InputError(
                f"priority must be one of {', '.join(sorted(policies(session)))}, not {priority!r}"
            )
        new = Policy(
            assess=current.assess if assess is None else assess,
            root_cause=current.root_cause if root_cause is None else root_cause,
            fix=current.fix if fix is None else fix,
        )
        set_policy(session, priority, new, actor=cli_actor())
    out_console.print(
        f"{priority}: assess {new.assess:g} h, root cause {new.root_cause:g} h, fix {new.fix:g} h",
        markup=False,
    )


@problems_app.command("backlog")
def backlog(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """UX improvement backlog: open problems tagged ux or web, highest impact first."""
    from rootline.rootcause.schemas import ProblemOut
    from rootline.rootcause.service import ux_backlog

    with session_scope(app_state(ctx).sessions) as session:
        items = [ProblemOut.of(p) for p in ux_backlog(session)]
    if as_json:
        print_json([p.model_dump(mode="json") for p in items])
        return
    for p in items:
        out_console.print(
            f"{p.impact_score:5.0f}  #{p.id} [{p.priority}] {p.title} ({p.business_team or '-'})",
            markup=False,
            highlight=False,
        )


@problems_app.command("known-errors")
def known_errors(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="Words to search for.")] = "",
    theme: Annotated[int | None, typer.Option(help="Only articles for this theme.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Search the known-error knowledge base (causes and workarounds)."""
    from rootline.rootcause.knowledge import known_errors_for_theme, search_known_errors
    from rootline.rootcause.schemas import KnownErrorOut

    with session_scope(app_state(ctx).sessions) as session:
        rows = (
            known_errors_for_theme(session, theme)
            if theme is not None
            else search_known_errors(session, query)
        )
        items = [KnownErrorOut.of(a) for a in rows]
    if as_json:
        print_json([a.model_dump() for a in items])
        return
    for a in items:
        out_console.print(
            f"#{a.problem_id} {a.title}\n  cause: {a.cause}\n  workaround: {a.workaround}",
            markup=False,
            highlight=False,
        )


def worker(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Run one pass and exit.")] = False,
) -> None:
    """Run the periodic jobs: automatic problems, SLA escalation, fix verification, recurrence
    watch and notification delivery."""
    from rootline.cli.console import err_console
    from rootline.rootcause.worker import run_worker

    state = app_state(ctx)

    def _report(report: Any) -> None:
        err_console.print(
            " ".join(f"{k}={v}" for k, v in report.as_dict().items()), markup=False, highlight=False
        )

    try:
        run_worker(state.sessions, state.settings, once=once, on_pass=_report)
    except KeyboardInterrupt:
        err_console.print("worker stopped")


def register(app: typer.Typer) -> typer.Typer:
    """Add ``problems`` (with its ``task`` and ``sla`` groups) and ``worker`` to the root app;
    returns the ``problems`` group."""
    problems_app.add_typer(task_app, name="task")
    problems_app.add_typer(sla_app, name="sla")
    app.add_typer(problems_app, name="problems")
    app.command("worker")(worker)
    return problems_app
