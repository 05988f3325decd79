# Near misses: none of these may be flagged.
Start-Process -FilePath "setup.exe" -Wait
$server = Start-Process -FilePath "server.exe" -PassThru
$proc = START-PROCESS python -pa
$job = Start-Job -ScriptBlock { Start-Sleep 1 }
$job | Wait-Job | Receive-Job
Remove-Job $job
$server.CloseMainWindow() | Out-Null
Stop-Process -Id $server.Id -Force
