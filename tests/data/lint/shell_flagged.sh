#!/bin/sh
# Each line marked `expect:` must get exactly those findings, and no other line any.
python3 -m http.server 8000 & # expect: SH001
{ sleep 100; echo done; } & # expect: SH001
nohup ./worker > worker.log 2>&1 & # expect: SH001 SH002
setsid ./daemon # expect: SH002
exec setsid ./daemon2 # expect: SH002
./job & # expect: SH001
disown # expect: SH002
kill -9 "$(cat app.pid)" # expect: SH003
kill -s KILL 4242 # expect: SH003
