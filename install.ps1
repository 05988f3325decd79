# Installs the reaper binary on Windows from a release archive after checking its SHA-256 checksum.
#
#   powershell -ExecutionPolicy ByPass -c "irm https://github.com/OWNER/REPO/releases/latest/download/install.ps1 | iex"
#
# The copy attached to a release knows its repository (the release workflow fills it in below);
# a copy taken from the source tree needs REAPER_DOWNLOAD_URL.
#
# Environment (all optional):
#   REAPER_VERSION       release tag to install, e.g. v0.1.0 (default: the latest release)
#   REAPER_INSTALL_DIR   where to put reaper.exe (default: %LOCALAPPDATA%\Programs\reaper\bin,
#                        added to the user's PATH)
#   REAPER_DOWNLOAD_URL  URL of the directory holding the archives (default: the GitHub release)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$repository = '@REPOSITORY@'
# Only an x86_64 build is released; Windows on ARM64 runs it under emulation.
$target = 'x86_64-pc-windows-msvc'
$name = "reaper-pm-$target"
$archive = "$name.zip"

if (-not $env:REAPER_DOWNLOAD_URL -and -not $repository.StartsWith('https://')) {
    throw 'this install.ps1 is not from a release (it does not know the repository): set REAPER_DOWNLOAD_URL to the directory holding the archives'
}
if ($env:REAPER_DOWNLOAD_URL) { $base = $env:REAPER_DOWNLOAD_URL }
elseif ($env:REAPER_VERSION) { $base = "$repository/releases/download/$($env:REAPER_VERSION)" }
else { $base = "$repository/releases/latest/download" }
if ($env:REAPER_INSTALL_DIR) { $installDir = $env:REAPER_INSTALL_DIR }
else { $installDir = Join-Path $env:LOCALAPPDATA 'Programs\reaper\bin' }

$work = Join-Path ([System.IO.Path]::GetTempPath()) ("reaper-install-" + [System.Guid]::NewGuid())
New-Item -ItemType Directory -Path $work | Out-Null
try {
    Invoke-WebRequest -UseBasicParsing -Uri "$base/$archive" -OutFile (Join-Path $work $archive)
    Invoke-WebRequest -UseBasicParsing -Uri "$base/$archive.sha256" -OutFile (Join-Path $work "$archive.sha256")
    $expected = ((Get-Content (Join-Path $work "$archive.sha256") -Raw).Trim() -split '\s+')[0]
    $actual = (Get-FileHash -Algorithm SHA256 (Join-Path $work $archive)).Hash
    if ($actual -ne $expected) {
        throw "checksum mismatch for ${archive}: expected $expected, got $actual; nothing was installed"
    }
    Expand-Archive -Path (Join-Path $work $archive) -DestinationPath $work
    New-Item -ItemType Directory -Force -Path $installDir | Out-Null
    Copy-Item -Force (Join-Path $work "$name\reaper.exe") (Join-Path $installDir 'reaper.exe')
} finally {
    Remove-Item -Recurse -Force $work
}

$userPath = [Environment]::GetEnvironmentVariable('Path', 'User')
if (-not (($userPath -split ';') -contains $installDir)) {
    [Environment]::SetEnvironmentVariable('Path', "$installDir;$userPath", 'User')
    Write-Output "added $installDir to your PATH (open a new terminal to use it)"
}
Write-Output "installed $(& (Join-Path $installDir 'reaper.exe') --version) to $installDir\reaper.exe"
Write-Output 'shell completions and the man page: `reaper completions powershell`, `reaper man` (see README)'
