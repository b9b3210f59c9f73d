"""The simulator's board faults (scripts/e2e --faults), without Home Assistant."""

from __future__ import annotations

from dev.marstek_sim.site import Board, BoardConfig


def _board() -> Board:
    return Board(BoardConfig(name="LilyGo L1", phase="L1", rs485_mode="enable"))


def test_ignoring_board_takes_writes_and_changes_nothing() -> None:
    board = _board()
    board.ignore_writes = True
    board.write("discharge_power", 800)
    board.write("forcible_mode", "discharge")
    assert board.write_count == 2
    assert board.effective == ("stop", 0.0)
    board.ignore_writes = False
    board.write("forcible_mode", "discharge")
    assert board.registers["forcible_mode"] == "discharge"


def test_app_start_and_reboot() -> None:
    board = _board()
    board.app_start(600)
    assert board.effective == ("discharge", 600.0)
    assert board.write_count == 0  # nobody wrote through Home Assistant
    board.reboot()
    assert board.effective == ("stop", 0.0)
    assert board.reported["rs485_mode"] == "unknown"
    board.write("rs485_mode", "enable")
    board.write("discharge_power", 500)
    board.write("forcible_mode", "discharge")
    assert board.effective == ("discharge", 500.0)


def test_app_start_shows_at_the_next_poll_unless_stopped_before() -> None:
    """The board shows the app's start at its next poll; a stop written before that poll
    (the strategy's keep-alive) leaves nothing for Home Assistant to see (scripts/e2e)."""
    board = _board()
    board.step(1.0)
    board.app_start(800)
    assert board.app_started_s == 1.0
    assert board.reported["forcible_mode"] == "stop"
    for _ in range(4):
        board.step(1.0)
    assert ("forcible_mode", "discharge") in {(r, v) for _t, r, v in board.published}

    board = _board()
    board.write("rs485_mode", "enable")
    board.app_start(800)
    board.write("forcible_mode", "stop")  # a keep-alive before the poll
    assert board.write_count - board.app_started_writes == 1  # the writes after the start
    for _ in range(5):
        board.step(1.0)
    assert board.effective == ("stop", 0.0)
    assert ("forcible_mode", "discharge") not in {(r, v) for _t, r, v in board.published}
    assert board.reported["discharge_power"] == 800.0  # shown, but not a running battery
