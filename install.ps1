# Installs stowage.exe for Windows x64, verified against the release's SHA256SUMS.
#
#   irm https://github.com/stowage/stowage/releases/latest/download/install.ps1 | iex
#   .\install.ps1 [-Dir DIR] [-Version X.Y.Z]
#
# Environment: STOWAGE_INSTALL_DIR (default %LOCALAPPDATA%\stowage\bin), STOWAGE_VERSION,
# STOWAGE_INSTALL_BASE (the folder URL holding the executables and SHA256SUMS), STOWAGE_REPO.
# Nothing is installed unless the download's SHA-256 matches its line in SHA256SUMS.
param(
  [string]$Dir = $(if ($env:STOWAGE_INSTALL_DIR) { $env:STOWAGE_INSTALL_DIR } else { Join-Path $env:LOCALAPPDATA "stowage\bin" }),
  [string]$Version = $env:STOWAGE_VERSION
)
$ErrorActionPreference = "Stop"
$ProgressPreference = "SilentlyContinue"

# A throw, not `exit`: run through `irm … | iex`, exit would close the user's PowerShell window.
function Fail([string]$Message) {
  throw "stowage install: $Message"
}

$repo = if ($env:STOWAGE_REPO) { $env:STOWAGE_REPO } else { "stowage/stowage" }
if ($env:STOWAGE_INSTALL_BASE) {
  $base = $env:STOWAGE_INSTALL_BASE.TrimEnd("/")
} elseif ($Version) {
  $base = "https://github.com/$repo/releases/download/v$($Version.TrimStart('v'))"
} else {
  $base = "https://github.com/$repo/releases/latest/download"
}

# Only an x64 build exists for Windows; Windows on Arm runs it under emulation.
if (-not [Environment]::Is64BitOperatingSystem) { Fail "no stowage executable for 32-bit Windows; run it with bunx stowage" }
$file = "stowage-windows-x64.exe"

$tmp = Join-Path ([IO.Path]::GetTempPath()) ("stowage-" + [Guid]::NewGuid().ToString("N"))
New-Item -ItemType Directory -Path $tmp | Out-Null
try {
  Write-Host "Downloading $file from $base"
  try {
    Invoke-WebRequest -UseBasicParsing -Uri "$base/SHA256SUMS" -OutFile (Join-Path $tmp "SHA256SUMS")
  } catch {
    Fail "could not download $base/SHA256SUMS ($($_.Exception.Message)); refusing to install an executable that cannot be verified (nothing installed)"
  }
  $expected = $null
  foreach ($line in Get-Content (Join-Path $tmp "SHA256SUMS")) {
    $parts = $line -split "\s+", 2
    if ($parts.Count -eq 2 -and $parts[1].TrimStart("*") -eq $file) { $expected = $parts[0].ToLowerInvariant(); break }
  }
  if (-not $expected) { Fail "SHA256SUMS at $base has no checksum for $file; refusing to install an executable that cannot be verified (nothing installed)" }

  $download = Join-Path $tmp $file
  try {
    Invoke-WebRequest -UseBasicParsing -Uri "$base/$file" -OutFile $download
  } catch {
    Fail "could not download $base/$file ($($_.Exception.Message)) (nothing installed)"
  }
  $actual = (Get-FileHash -Algorithm SHA256 -Path $download).Hash.ToLowerInvariant()
  if ($actual -ne $expected) {
    Fail "checksum mismatch for ${file}: SHA256SUMS says $expected, the download is $actual; it may be corrupt or tampered with (nothing installed)"
  }
  $said = & $download --version 2>&1
  if ($LASTEXITCODE -ne 0) { Fail "the downloaded $file does not run on this machine: $said (nothing installed)" }

  New-Item -ItemType Directory -Force -Path $Dir | Out-Null
  $target = Join-Path $Dir "stowage.exe"
  # Copy beside the target, then rename: a half-written stowage.exe is never left in place.
  $partial = Join-Path $Dir ".stowage.partial.exe"
  Copy-Item -Force $download $partial
  Move-Item -Force $partial $target
  Write-Host "Installed $said ($file, sha256 $actual) to $target"

  $userPath = [Environment]::GetEnvironmentVariable("Path", "User")
  if (($userPath -split ";") -notcontains $Dir) {
    Write-Host "$Dir is not on your PATH. Add it for your user with:"
    Write-Host "  [Environment]::SetEnvironmentVariable('Path', [Environment]::GetEnvironmentVariable('Path', 'User') + ';$Dir', 'User')"
    Write-Host "then open a new terminal and run: stowage --help"
  } else {
    Write-Host "Run: stowage --help"
  }
} finally {
  Remove-Item -Recurse -Force $tmp -ErrorAction SilentlyContinue
}
