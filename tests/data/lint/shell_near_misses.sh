#!/bin/sh
# Near misses: none of these may be flagged. Every background job here is tracked ($!, wait).
python3 -m http.server 8000 &
server=$!
trap 'kill "$server"' EXIT
kill "$server"
sleep 1
kill -9 "$server"
kill -TERM 4242
sleep 1
kill -s KILL 4242
echo "nohup and setsid are only words here"
a && b
c &> /dev/null
wait
