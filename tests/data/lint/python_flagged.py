"""Each line marked `expect:` must get exactly those findings, and no other line any."""
import asyncio
import os
import subprocess
import subprocess as sp
from subprocess import Popen, check_output as co

subprocess.run(["make"])  # expect: PY001
sp.call("make", shell=True)  # expect: PY001
subprocess.check_call(["make"], cwd="/tmp")  # expect: PY001
co(["git", "status"])  # expect: PY001
subprocess.run(["make"], **options)  # expect: PY001(info)


def leaks():
    server = Popen(["python3", "-m", "http.server"])  # expect: PY003
    print(server.pid)


def waits_forever():
    proc = subprocess.Popen(["sleep", "100"])
    proc.wait()  # expect: PY002
    out, err = proc.communicate()  # expect: PY002
    proc.communicate(b"input")  # expect: PY002


with Popen(["sleep", "1"]) as child:
    child.wait()  # expect: PY002

subprocess.Popen(["daemon"])  # expect: PY003
subprocess.Popen(["sleep", "1"]).wait()  # expect: PY002

os.system("make")  # expect: PY004
listing = os.popen("ls").read()  # expect: PY004


async def two_starts(fast):
    if fast:
        proc = await asyncio.create_subprocess_exec("a")
    else:
        proc = await asyncio.create_subprocess_exec("b")
    return await proc.wait()  # expect: PY005


async def unbounded():
    proc = await asyncio.create_subprocess_exec("sleep", "100")
    await proc.wait()  # expect: PY005
    shell = await asyncio.create_subprocess_shell("make")
    out, _ = await shell.communicate()  # expect: PY005


async def never_waited():
    proc = await asyncio.create_subprocess_exec("worker")  # expect: PY005
    print("started", proc.pid)
    await asyncio.create_subprocess_shell("make &")  # expect: PY005


subprocess.run(["server"], timeout=5, start_new_session=True)  # expect: PY006(info)
helper = Popen(["x"], preexec_fn=os.setsid)  # expect: PY006(info)
helper.kill()
