# Prepares an Azure VM as an On-premises data gateway node and, when a service principal is
# configured, installs and registers the gateway unattended. Runs as SYSTEM through Run Command v2.
# It receives no secret: the service principal's secret and the recovery key are read from Key Vault
# with the VM's managed identity, which may read only those two secrets.
param(
  [Parameter(Mandatory = $true)][string]$Mode,              # prepare | create | join
  [Parameter(Mandatory = $true)][string]$PowerShellVersion,
  [string]$VaultName = "",
  [string]$RecoveryKeySecretName = "",
  [string]$ClientSecretSecretName = "",
  [string]$ClientId = "",
  [string]$TenantId = "",
  [string]$ClusterName = "",
  [string]$RegionKey = "",
  [string]$AdminObjectIds = ""
)
$ErrorActionPreference = "Stop"
$ProgressPreference = "SilentlyContinue"
[Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12
$log = "C:\ProgramData\iom-gateway-setup.log"
function Write-Step([string]$Message) { "$(Get-Date -Format o) $Message" | Tee-Object -FilePath $log -Append }

# 1. PowerShell 7, which the DataGateway module requires.
$pwsh = "C:\Program Files\PowerShell\7\pwsh.exe"
if (-not (Test-Path $pwsh)) {
  Write-Step "Installing PowerShell $PowerShellVersion"
  $msi = Join-Path $env:TEMP "PowerShell-$PowerShellVersion-win-x64.msi"
  Invoke-WebRequest -UseBasicParsing -Uri "https://github.com/PowerShell/PowerShell/releases/download/v$PowerShellVersion/PowerShell-$PowerShellVersion-win-x64.msi" -OutFile $msi
  $p = Start-Process msiexec.exe -Wait -PassThru -ArgumentList "/i `"$msi`" /qn /norestart ADD_PATH=1 ENABLE_PSREMOTING=0 REGISTER_MANIFEST=1"
  if ($p.ExitCode -ne 0) { throw "PowerShell installer failed with exit code $($p.ExitCode)" }
}

# 2. The DataGateway module, the gateway software and, with a service principal, the registration,
#    run inside PowerShell 7. Secrets stay in memory as SecureString and never reach the log.
$stage2 = @'
param($Mode, $VaultName, $RecoveryKeySecretName, $ClientSecretSecretName, $ClientId, $TenantId, $ClusterName, $RegionKey, $AdminObjectIds, $Log)
$ErrorActionPreference = "Stop"
$ProgressPreference = "SilentlyContinue"
function Write-Step([string]$Message) { "$(Get-Date -Format o) $Message" | Out-File -FilePath $Log -Append }
function Get-VaultSecret([string]$Name) {
  # The role assignment on the secret can take minutes to reach Key Vault: retry for up to 15 minutes.
  for ($attempt = 1; $attempt -le 30; $attempt++) {
    try {
      $token = (Invoke-RestMethod -Headers @{ Metadata = "true" } -Uri "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net").access_token
      $secret = Invoke-RestMethod -Headers @{ Authorization = "Bearer $token" } -Uri "https://$VaultName.vault.azure.net/secrets/$($Name)?api-version=7.4"
      return ConvertTo-SecureString -String $secret.value -AsPlainText -Force
    } catch {
      Write-Step "Key Vault secret '$Name' not readable yet (attempt $attempt): $($_.Exception.Message)"
      Start-Sleep -Seconds 30
    }
  }
  throw "Key Vault secret '$Name' stayed unreadable; check the VM identity's Key Vault Secrets User assignment and the private endpoint DNS."
}
if (-not (Get-Module -ListAvailable -Name DataGateway)) {
  Write-Step "Installing the DataGateway module"
  Set-PSRepository -Name PSGallery -InstallationPolicy Trusted
  Install-Module -Name DataGateway -Scope AllUsers -Force
}
Import-Module DataGateway
if ($Mode -eq "prepare") {
  Write-Step "Prepared: PowerShell 7 and the DataGateway module are installed; registration is manual."
  return
}
Write-Step "Signing in as service principal $ClientId"
Connect-DataGatewayServiceAccount -ApplicationId $ClientId -ClientSecret (Get-VaultSecret $ClientSecretSecretName) -Tenant $TenantId | Out-Null
Write-Step "Installing the gateway software"
Install-DataGateway -AcceptConditions
$recoveryKey = Get-VaultSecret $RecoveryKeySecretName
$regionArgs = @{}
if ($RegionKey) { $regionArgs.RegionKey = $RegionKey }
$existing = Get-DataGatewayCluster | Where-Object { $_.Name -eq $ClusterName } | Select-Object -First 1
if ($Mode -eq "create" -and -not $existing) {
  Write-Step "Creating gateway cluster $ClusterName"
  $created = Add-DataGatewayCluster -GatewayName $ClusterName -RecoveryKey $recoveryKey @regionArgs
  $clusterId = $created.GatewayObjectId
} elseif ($existing) {
  $clusterId = $existing.Id
  Write-Step "Joining gateway cluster $ClusterName ($clusterId) as $env:COMPUTERNAME"
  Add-DataGatewayClusterMember -GatewayName $env:COMPUTERNAME -RecoveryKey $recoveryKey -GatewayClusterId $clusterId @regionArgs | Out-Null
} else {
  throw "Gateway cluster $ClusterName does not exist yet; the first node creates it."
}
foreach ($admin in ($AdminObjectIds -split "," | Where-Object { $_ })) {
  Write-Step "Adding gateway admin $admin"
  Add-DataGatewayClusterUser -GatewayClusterId $clusterId -PrincipalObjectId $admin -AllowedDataSourceTypes $null -Role Admin @regionArgs
}
Write-Step "Gateway registered in cluster $ClusterName"
'@
$stage2Path = Join-Path $env:ProgramData "iom-gateway-stage2.ps1"
Set-Content -Path $stage2Path -Value $stage2 -Encoding UTF8
& $pwsh -NoProfile -NonInteractive -ExecutionPolicy Bypass -File $stage2Path `
  -Mode $Mode -VaultName $VaultName -RecoveryKeySecretName $RecoveryKeySecretName -ClientSecretSecretName $ClientSecretSecretName `
  -ClientId $ClientId -TenantId $TenantId -ClusterName $ClusterName -RegionKey $RegionKey -AdminObjectIds $AdminObjectIds -Log $log
if ($LASTEXITCODE -ne 0) { throw "Gateway setup failed (exit code $LASTEXITCODE); see $log" }
Write-Step "Done ($Mode)"
