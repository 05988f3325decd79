"""Near misses: none of these may be flagged."""
import asyncio
import os
import subprocess
import threading
from subprocess import Popen

subprocess.run(["make"], timeout=5)
subprocess.check_output(["git", "status"], timeout=30, text=True)
subprocess.call("make", shell=True, timeout=60)

with Popen(["sleep", "1"]) as child:
    child.wait(timeout=5)

with subprocess.Popen(["cat"], stdin=subprocess.PIPE) as cat:
    cat.communicate(b"data", timeout=5)


def waited():
    proc = subprocess.Popen(["sleep", "1"])
    proc.wait(5)


def killed_then_waited():
    proc = subprocess.Popen(["sleep", "100"])
    proc.kill()
    proc.wait()


def handed_on():
    return subprocess.Popen(["server"])


def stored(self):
    self.proc = subprocess.Popen(["server"])


def passed_on(registry):
    proc = subprocess.Popen(["server"])
    registry.append(proc)


def positional_timeout():
    proc = Popen(["cat"])
    proc.communicate(None, 5)


async def bounded():
    proc = await asyncio.create_subprocess_exec("sleep", "1")
    await asyncio.wait_for(proc.wait(), timeout=5)
    shell = await asyncio.create_subprocess_shell("make")
    async with asyncio.timeout(10):
        await shell.communicate()


async def handed_over():
    # The caller owns it: whether it is waited on is the caller's business.
    server = await asyncio.create_subprocess_exec("server")
    return server


# Other objects' wait() and run() are none of these rules' business.
threading.Event().wait()
event = threading.Event()
event.wait()
app.run()
os.path.join("a", "b")
subprocess.run(["deliberate"])  # reaper: ignore[PY001]
# reaper: ignore[PY004]
os.system("deliberate too")
subprocess.run(["server"], timeout=5, start_new_session=False)
