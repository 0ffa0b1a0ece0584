"""The play_times callback counts elapsed time on the monotonic clock: a wall clock stepped back
(NTP) during a run must not make a play's or the run's time negative or wrong."""

from ansible_collections.tenrec.dataplane.plugins.callback import play_times


class SteppedClock(object):
    """``time`` stand-in: the wall clock goes back 3600 s at each read, monotonic time runs."""

    def __init__(self):
        self.wall, self.now = 1.0e9, 100.0

    def time(self):
        self.wall -= 3600
        return self.wall

    def monotonic(self):
        return self.now


class FakePlay(object):
    def __init__(self, name, hosts):
        self.name, self.hosts = name, hosts

    def get_name(self):
        return self.name


class FakeDisplay(object):
    def __init__(self):
        self.lines = []

    def banner(self, text):
        self.lines.append("== %s" % text)

    def display(self, text):
        self.lines.append(text)


def test_play_and_total_times_are_monotonic(monkeypatch):
    clock = SteppedClock()
    monkeypatch.setattr(play_times, "time", clock)
    callback = play_times.CallbackModule()
    callback._display = FakeDisplay()
    monkeypatch.setattr(callback, "get_option", lambda name: None)
    clock.now += 1
    callback.v2_playbook_on_play_start(FakePlay("control plane", ["localhost"]))
    callback.v2_runner_on_ok(None)
    clock.now += 12.5
    callback.v2_playbook_on_play_start(FakePlay("data plane", ["computes"]))
    callback.v2_runner_on_ok(None)
    clock.now += 30
    callback.v2_playbook_on_stats(None)
    assert callback._display.lines == [
        "== PLAY TIMES",
        "control plane     12.5 s  (localhost)",
        "data plane        30.0 s  (computes)",
        "total             43.5 s",
    ]
