# Each line marked `expect:` must get exactly those findings, and no other line any.
Start-Process -FilePath "server.exe" -ArgumentList "--port", "8000" # expect: PS001
start notepad.exe # expect: PS001
Start-Process python -WindowStyle Hidden # expect: PS001
$job = Start-Job -ScriptBlock { Start-Sleep 100 } # expect: PS002
Stop-Process -Name "server" -Force # expect: PS003(info)
