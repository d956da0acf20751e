# Prepares an Azure VM as an On-premises data gateway node: installs the gateway software in every
# mode and, when a service principal is configured, registers it unattended. Runs as SYSTEM through Run Command v2,
# which executes it in Windows PowerShell 5.1; safe to run again (every change of the Run Command
# re-runs it): it detects what this machine already has and does only what is missing.
# It receives no secret: the service principal's secret and the recovery key are read from Key Vault
# with the VM's managed identity, which may read only those two secrets.
param(
  [Parameter(Mandatory = $true)][ValidateSet("prepare", "create", "join")][string]$Mode,
  [Parameter(Mandatory = $true)][string]$PowerShellVersion,
  [Parameter(Mandatory = $true)][string]$GatewayInstallerUrl,
  [Parameter(Mandatory = $true)][string]$GatewayInstallerArguments,
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
# .NET Framework, which Windows PowerShell 5.1 runs on, may not offer TLS 1.2 (GitHub and the Gallery require it).
[Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12
$log = "C:\ProgramData\iom-gateway-setup.log"
# UTF-8 without BOM, as stage 2 (PowerShell 7's Out-File) writes: 5.1's Tee-Object would write UTF-16LE.
$logEncoding = New-Object Text.UTF8Encoding $false
function Write-Step([string]$Message) {
  $line = "$(Get-Date -Format o) $Message"
  [IO.File]::AppendAllText($log, "$line`r`n", $logEncoding)
  $line
}

# 1. PowerShell 7, which the DataGateway module requires.
$pwsh = "C:\Program Files\PowerShell\7\pwsh.exe"
if (-not (Test-Path $pwsh)) {
  Write-Step "Installing PowerShell $PowerShellVersion"
  $msi = Join-Path $env:TEMP "PowerShell-$PowerShellVersion-win-x64.msi"
  Invoke-WebRequest -UseBasicParsing -Uri "https://github.com/PowerShell/PowerShell/releases/download/v$PowerShellVersion/PowerShell-$PowerShellVersion-win-x64.msi" -OutFile $msi
  $p = Start-Process msiexec.exe -Wait -PassThru -ArgumentList "/i `"$msi`" /qn /norestart ADD_PATH=1 ENABLE_PSREMOTING=0 REGISTER_MANIFEST=1"
  # 3010 (ERROR_SUCCESS_REBOOT_REQUIRED) is a success: installed, a restart pending (Microsoft, "MsiExec.exe and InstMsi.exe error messages").
  if ($p.ExitCode -eq 3010) { Write-Step "PowerShell installed; Windows asks for a restart later (msiexec 3010)" }
  elseif ($p.ExitCode -ne 0) { throw "PowerShell installer failed with exit code $($p.ExitCode)" }
}

# 2. The DataGateway module, the gateway software and, with a service principal, the registration,
#    run inside PowerShell 7. Secrets stay in memory as SecureString and never reach the log.
#    The gateway software is installed in every mode, without a signed-in session.
$stage2 = @'
param([Parameter(Mandatory = $true)][string]$EncodedSettings)
$ErrorActionPreference = "Stop"
$ProgressPreference = "SilentlyContinue"
$settings = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($EncodedSettings)) | ConvertFrom-Json
$Log = $settings.Log
function Write-Step([string]$Message) { "$(Get-Date -Format o) $Message" | Out-File -FilePath $Log -Append }
function Get-VaultSecret([string]$Name) {
  # The role assignment on the secret can take minutes to reach Key Vault: retry for up to 15 minutes.
  for ($attempt = 1; $attempt -le 30; $attempt++) {
    try {
      $token = (Invoke-RestMethod -Headers @{ Metadata = "true" } -Uri "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net").access_token
      $secret = Invoke-RestMethod -Headers @{ Authorization = "Bearer $token" } -Uri "https://$($settings.VaultName).vault.azure.net/secrets/$($Name)?api-version=7.4"
      return ConvertTo-SecureString -String $secret.value -AsPlainText -Force
    } catch {
      Write-Step "Key Vault secret '$Name' not readable yet (attempt $attempt): $($_.Exception.Message)"
      Start-Sleep -Seconds 30
    }
  }
  throw "Key Vault secret '$Name' stayed unreadable; check the VM identity's Key Vault Secrets User assignment and the private endpoint DNS."
}

# The gateway software, installed by its own installer: Install-DataGateway needs a signed-in session
# ("Login first"), which prepare mode does not have. Microsoft documents no command line for the
# installer, so URL and arguments come from the stack's config (gatewayInstallerUrl,
# gatewayInstallerArguments; docs/azure-landing.md says where the defaults come from).
function Install-GatewaySoftware {
  $installer = Join-Path $env:ProgramData "iom-gateway-installer.exe"
  $installLog = Join-Path $env:ProgramData "iom-gateway-install.log"
  Write-Step "Downloading the gateway installer from $($settings.InstallerUrl)"
  Invoke-WebRequest -UseBasicParsing -Uri $settings.InstallerUrl -OutFile $installer
  # The URL is configurable: only an installer Microsoft signed is run.
  $signature = Get-AuthenticodeSignature -FilePath $installer
  $signer = if ($signature.SignerCertificate) { $signature.SignerCertificate.Subject } else { "no signer" }
  if ($signature.Status -ne "Valid" -or $signer -notmatch "O=Microsoft Corporation") {
    throw "The gateway installer from $($settings.InstallerUrl) is not validly signed by Microsoft (status $($signature.Status), $signer); it was not run."
  }
  $installerArguments = "$($settings.InstallerArguments) /log `"$installLog`""
  Write-Step "Running the gateway installer with: $installerArguments"
  $p = Start-Process -FilePath $installer -ArgumentList $installerArguments -Wait -PassThru
  # 3010 and 1641: installed, a restart pending or started (Microsoft, "MsiExec.exe and InstMsi.exe error messages").
  if (@(0, 3010, 1641) -notcontains $p.ExitCode) { throw "The gateway installer failed with exit code $($p.ExitCode); see $installLog" }
  if (-not (Get-Service -Name PBIEgwService -ErrorAction SilentlyContinue)) {
    throw "The gateway installer ended with exit code $($p.ExitCode) but the gateway service PBIEgwService is missing; see $installLog"
  }
  Write-Step "Gateway software installed (installer exit code $($p.ExitCode))"
}

# What to do, by <mode>/<this machine's gateway>/<cluster in the service>. The whole decision is this
# table; tests/support/gateway-setup-plan.ts holds the same table and the tests compare the two.
#   notInstalled  no gateway service on this machine and the cluster lists no member for it
#   installedOnly gateway service present, not a member of the cluster (Add-DataGatewayClusterMember needs exactly this)
#   registered    gateway service present and the cluster lists this machine
#   staleMember   the cluster lists this machine but no gateway is installed here (e.g. the VM was rebuilt)
#   unknown       prepare mode signs in to nothing, so it cannot see the cluster; registration is the operator's step
$SetupPlans = @{
  "prepare/notInstalled/unknown"  = "install"
  "prepare/installedOnly/unknown" = "none"
  "create/notInstalled/missing"  = "install+create"
  "create/notInstalled/exists"   = "install+join"
  "create/installedOnly/missing" = "create"
  "create/installedOnly/exists"  = "join"
  "create/registered/exists"     = "none"
  "create/staleMember/exists"    = "fail:stale-member"
  "join/notInstalled/missing"    = "fail:no-cluster"
  "join/notInstalled/exists"     = "install+join"
  "join/installedOnly/missing"   = "fail:no-cluster"
  "join/installedOnly/exists"    = "join"
  "join/registered/exists"       = "none"
  "join/staleMember/exists"      = "fail:stale-member"
}

# A member is this machine when it carries the name this node registers under, or when its
# annotation (gateway metadata in JSON) names this computer.
function Test-IsThisMachine($Member, [string[]]$Names) {
  if ($Names -contains $Member.Name) { return $true }
  $annotation = $Member.PSObject.Properties["Annotation"]
  if ($annotation -and $annotation.Value) {
    try { return (($annotation.Value | ConvertFrom-Json).gatewayMachine -eq $env:COMPUTERNAME) } catch { return $false }
  }
  return $false
}

if (-not (Get-Module -ListAvailable -Name DataGateway)) {
  Write-Step "Installing the DataGateway module"
  Set-PSRepository -Name PSGallery -InstallationPolicy Trusted
  Install-Module -Name DataGateway -Scope AllUsers -Force
}
Import-Module DataGateway
$regionArgs = @{}
if ($settings.RegionKey) { $regionArgs.RegionKey = $settings.RegionKey }

# The gateway Windows service is PBIEgwService; it exists once the gateway software is installed.
$installed = [bool](Get-Service -Name PBIEgwService -ErrorAction SilentlyContinue)
$cluster = $null
$listed = $false
if ($settings.Mode -eq "prepare") {
  $clusterState = "unknown"
} else {
  Write-Step "Signing in as service principal $($settings.ClientId)"
  Connect-DataGatewayServiceAccount -ApplicationId $settings.ClientId -ClientSecret (Get-VaultSecret $settings.ClientSecretSecretName) -Tenant $settings.TenantId | Out-Null
  $cluster = Get-DataGatewayCluster @regionArgs | Where-Object { $_.Name -eq $settings.ClusterName } | Select-Object -First 1
  $memberNames = @($env:COMPUTERNAME)
  if ($settings.Mode -eq "create") { $memberNames += $settings.ClusterName } # the creator registers under the cluster's name
  if ($cluster) {
    $detail = Get-DataGatewayCluster -GatewayClusterId $cluster.Id @regionArgs
    $listed = [bool](@($detail.MemberGateways) | Where-Object { $_ -and (Test-IsThisMachine $_ $memberNames) })
  }
  $clusterState = if ($cluster) { "exists" } else { "missing" }
}
$localState = if ($listed -and $installed) { "registered" } elseif ($listed) { "staleMember" } elseif ($installed) { "installedOnly" } else { "notInstalled" }
$planKey = "$($settings.Mode)/$localState/$clusterState"
$plan = $SetupPlans[$planKey]
if (-not $plan) { throw "No setup plan for state $planKey" }
Write-Step "State $planKey -> $plan"
if ($plan -eq "fail:stale-member") {
  throw "Cluster $($settings.ClusterName) lists this machine ($env:COMPUTERNAME) but no gateway is installed here. Remove the stale member (Remove-DataGatewayClusterMember) and run the setup again."
}
if ($plan -eq "fail:no-cluster") {
  throw "Gateway cluster $($settings.ClusterName) does not exist yet; the first node creates it."
}
$steps = $plan -split "\+"
if ($steps -contains "install") {
  Install-GatewaySoftware
}
if ($settings.Mode -eq "prepare") {
  Write-Step "Prepared: the gateway software, PowerShell 7 and the DataGateway module are installed; registering it is the operator's step."
  return
}
if ($steps -contains "create") {
  Write-Step "Creating gateway cluster $($settings.ClusterName)"
  $created = Add-DataGatewayCluster -GatewayName $settings.ClusterName -RecoveryKey (Get-VaultSecret $settings.RecoveryKeySecretName) @regionArgs
  $clusterId = $created.GatewayObjectId
} else {
  $clusterId = $cluster.Id
}
if ($steps -contains "join") {
  Write-Step "Joining gateway cluster $($settings.ClusterName) ($clusterId) as $env:COMPUTERNAME"
  Add-DataGatewayClusterMember -GatewayName $env:COMPUTERNAME -RecoveryKey (Get-VaultSecret $settings.RecoveryKeySecretName) -GatewayClusterId $clusterId @regionArgs | Out-Null
}
# Re-applied on every run, so an admin added to the stack's config is added on the next `pulumi up`.
foreach ($admin in ($settings.AdminObjectIds -split "," | Where-Object { $_ })) {
  try {
    Add-DataGatewayClusterUser -GatewayClusterId $clusterId -PrincipalObjectId $admin -AllowedDataSourceTypes $null -Role Admin @regionArgs | Out-Null
    Write-Step "Gateway admin $admin added"
  } catch {
    Write-Step "Gateway admin $admin not added (already an admin?): $($_.Exception.Message)"
  }
}
Write-Step "Gateway node $env:COMPUTERNAME is registered in cluster $($settings.ClusterName)"
'@
$stage2Path = Join-Path $env:ProgramData "iom-gateway-stage2.ps1"
Set-Content -Path $stage2Path -Value $stage2 -Encoding UTF8

# Windows PowerShell 5.1 drops an empty-string argument when it starts a native program, so a value
# passed as its own argument can vanish and shift every parameter after it. All values travel as one
# base64 text of a JSON document instead: never empty, and free of quotes that 5.1 would also mangle.
$settings = [ordered]@{
  Mode                   = $Mode
  VaultName              = $VaultName
  RecoveryKeySecretName  = $RecoveryKeySecretName
  ClientSecretSecretName = $ClientSecretSecretName
  ClientId               = $ClientId
  TenantId               = $TenantId
  ClusterName            = $ClusterName
  RegionKey              = $RegionKey
  AdminObjectIds         = $AdminObjectIds
  InstallerUrl           = $GatewayInstallerUrl
  InstallerArguments     = $GatewayInstallerArguments
  Log                    = $log
}
$encodedSettings = [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes((ConvertTo-Json -InputObject $settings -Compress)))
# Windows PowerShell 5.1 applies $ErrorActionPreference to a native program's stderr when it captures it:
# under "Stop" the first line pwsh writes there would end this script before the exit code is read.
$ErrorActionPreference = "Continue"
& $pwsh -NoProfile -NonInteractive -ExecutionPolicy Bypass -File $stage2Path -EncodedSettings $encodedSettings
$stage2ExitCode = $LASTEXITCODE
$ErrorActionPreference = "Stop"
if ($stage2ExitCode -ne 0) { throw "Gateway setup failed (exit code $stage2ExitCode); see $log" }
Write-Step "Done ($Mode)"
