"""One autograded test cell on the trusted path: the test runs in the trusted runner
(:mod:`course.isolation.runner`), the student's kernel runs the grading agent meanwhile, and
the cell's outputs are the runner's verdict."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode

from course.isolation.runner_process import agent_cell_code
from course.nbgrader_ext.cells import has_hidden_tests

HIDDEN_NOTE = ("[What your code printed during this test is not shown: the test has hidden "
               "parts.]\n")


def _student_outputs(outputs: list, hidden: bool = False) -> list:
    """What the student's kernel printed during a test, as outputs nbgrader cannot score:
    text becomes stdout, results become display data, errors become a line of text. During
    a test with hidden parts, one line of text instead: what the student's code printed
    then (reprs of the test's objects, what it called them with) would reach the feedback."""
    if hidden:
        shown = any(out.get("output_type") in ("stream", "error", "display_data",
                                                "execute_result") for out in outputs)
        return [NotebookNode(output_type="stream", name="stdout", text=HIDDEN_NOTE)] if shown \
            else []
    text: list[str] = []
    kept: list = []
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            text.append(str(out.get("text", "")))
        elif kind == "error":
            text.append(f"[your kernel: {out.get('ename', 'Error')}: {out.get('evalue', '')}]\n")
        elif kind in ("display_data", "execute_result"):
            data = {k: v for k, v in out.get("data", {}).items()
                    if k in ("image/png", "text/plain")}
            if data:
                kept.append(NotebookNode(output_type="display_data", data=data, metadata={}))
    if text:
        kept.insert(0, NotebookNode(output_type="stream", name="stdout", text="".join(text)))
    return kept



async def run_test_cell(ex, cell, cell_index: int, grade_id: str, source: str, in_kernel):
    """Grade the test cell ``cell`` (its trusted ``source`` from the gradebook) for the
    TrustedExecute ``ex``: the runner runs the test while the student's kernel runs the agent
    (``in_kernel(agent_cell)`` executes a cell there); the cell's outputs become what the
    student's code printed, as plain text, followed by the runner's."""
    runner = ex.runner
    if ex.runner_failed:
        cell.outputs = [NotebookNode(output_type="error", ename="GradingError",
                                     evalue=ex.runner_failed,
                                     traceback=[f"GradingError: {ex.runner_failed}"])]
        return cell
    if not ex.runner_ready:
        await asyncio.to_thread(runner.read, ex.runner_timeout)
        ex.runner_ready = True
    token = secrets.token_hex(16)
    started = time.monotonic()
    runner.send({"cmd": "cell", "name": grade_id, "source": source, "token": token,
                 "timeout": ex.timeout})
    code = agent_cell_code(runner.address, token, loaded=ex.agent_loaded)
    agent = NotebookNode(cell_type="code", source=code,
                         metadata={}, outputs=[], id=cell.get("id", "agent"))
    verdict = asyncio.ensure_future(asyncio.to_thread(runner.read, ex.timeout + 15))
    student = asyncio.ensure_future(
        in_kernel(agent))
    failure = None
    done, _ = await asyncio.wait({verdict, student}, return_when=asyncio.FIRST_COMPLETED)
    if student in done and not verdict.done():
        # the agent returned before the runner finished: it never connected, or it died
        exc = student.exception()
        why = ("the student's kernel died" if isinstance(exc, DeadKernelError) else
               "the student's kernel did not run the test (its cell ended early)")
        with contextlib.suppress(Exception):
            runner.send({"cmd": "abort", "why": why, "token": token})
    try:
        result = await verdict
    except Exception as err:  # the runner died or hung: the test fails, visibly
        result = {"outputs": [{"output_type": "error", "ename": "GradingError",
                               "evalue": str(err), "traceback": [f"GradingError: {err}"]}]}
        ex.problem(f"{grade_id}: {err}")
        ex.runner_failed = f"the trusted runner failed at {grade_id}: {err}"
        runner.proc.kill()
    # the agent that connected left its serve in the kernel for the next test; one that did
    # not (removed by the student's code?) is sent whole again
    ex.agent_loaded = bool(result.get("connected"))
    try:
        await asyncio.wait_for(asyncio.shield(student), timeout=10)
    except TimeoutError:
        student.cancel()
        failure = CellTimeoutError("the student's kernel did not finish the test")
    except (DeadKernelError, CellTimeoutError) as err:
        failure = err
    if student.done() and not student.cancelled() and student.exception() is not None:
        failure = student.exception()
    outputs = _student_outputs(agent.outputs, has_hidden_tests(source, ex.config))
    outputs += [NotebookNode(out) for out in result.get("outputs", [])]
    cell.outputs = outputs
    cell.execution_count = None
    ex.nb.cells[cell_index] = cell  # nbclient put the agent's cell there
    ex.log.info("test %s graded in the trusted runner in %.2f s", grade_id,
                  time.monotonic() - started)
    if failure is not None:
        raise failure
    return cell

