import { md5Hex } from '../apple/profiles/validate.js';

/** Fleet's identifier and name for the profile that turns FileVault on and escrows its key. */
export const fileVaultProfileIdentifier = 'com.fleetdm.fleet.mdm.filevault';
export const fileVaultProfileName = 'Disk encryption';
/** The profile's top-level PayloadUUID (fixed, as in Fleet's template). */
export const fileVaultProfilePayloadUuid = '74FEAC88-B614-468E-A4B4-B4B0C93B5D52';
/** PayloadUUID of the certificate payload the escrow payload names in EncryptCertPayloadUUID. */
export const escrowCertPayloadUuid = 'A326B71F-EB80-41A5-A8CD-A6F932544281';

/**
 * The FileVault profile as Fleet generates it today (its latest template, which enforces and
 * escrows in one profile): FileVault on, deferred to the next login with no bypass left
 * (`DeferForceAtUserLoginMaxBypassAttempts` 0) and forced in Setup Assistant, the recovery key not
 * shown to the user but escrowed to "Fleet", encrypted to the certificate embedded here (the Apple
 * MDM CA, whose key decrypts the escrowed blob), and FileVault may not be turned off.
 */
export function fileVaultProfile(caCertDer: Buffer): Buffer {
  const cert = caCertDer.toString('base64');
  return Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>PayloadContent</key>
	<array>
		<dict>
			<key>Defer</key>
			<true/>
			<key>Enable</key>
			<string>On</string>
			<key>PayloadDisplayName</key>
			<string>FileVault 2</string>
			<key>PayloadIdentifier</key>
			<string>com.apple.MCX.FileVault2.3548D750-6357-4910-8DEA-D80ADCE2C787</string>
			<key>PayloadType</key>
			<string>com.apple.MCX.FileVault2</string>
			<key>PayloadUUID</key>
			<string>3548D750-6357-4910-8DEA-D80ADCE2C787</string>
			<key>PayloadVersion</key>
			<integer>1</integer>
			<key>ShowRecoveryKey</key>
			<false/>
			<key>DeferForceAtUserLoginMaxBypassAttempts</key>
			<integer>0</integer>
			<key>ForceEnableInSetupAssistant</key>
			<true/>
		</dict>
		<dict>
			<key>EncryptCertPayloadUUID</key>
			<string>${escrowCertPayloadUuid}</string>
			<key>Location</key>
			<string>Fleet</string>
			<key>PayloadDisplayName</key>
			<string>FileVault Recovery Key Escrow</string>
			<key>PayloadIdentifier</key>
			<string>com.apple.security.FDERecoveryKeyEscrow.3690D771-DCB8-4D5D-97D6-209A138DF03E</string>
			<key>PayloadType</key>
			<string>com.apple.security.FDERecoveryKeyEscrow</string>
			<key>PayloadUUID</key>
			<string>3C329F2B-3D47-4141-A2B5-5C52A2FD74F8</string>
			<key>PayloadVersion</key>
			<integer>1</integer>
		</dict>
		<dict>
			<key>PayloadCertificateFileName</key>
			<string>Fleet certificate</string>
			<key>PayloadContent</key>
			<data>${cert}</data>
			<key>PayloadDisplayName</key>
			<string>Certificate Root</string>
			<key>PayloadIdentifier</key>
			<string>com.apple.security.root.${escrowCertPayloadUuid}</string>
			<key>PayloadType</key>
			<string>com.apple.security.pkcs1</string>
			<key>PayloadUUID</key>
			<string>${escrowCertPayloadUuid}</string>
			<key>PayloadVersion</key>
			<integer>1</integer>
		</dict>
		<dict>
			<key>dontAllowFDEDisable</key>
			<true/>
			<key>PayloadIdentifier</key>
			<string>com.apple.MCX.62024f29-105E-497A-A724-1D5BA4D9E854</string>
			<key>PayloadType</key>
			<string>com.apple.MCX</string>
			<key>PayloadUUID</key>
			<string>62024f29-105E-497A-A724-1D5BA4D9E854</string>
			<key>PayloadVersion</key>
			<integer>1</integer>
		</dict>
	</array>
	<key>PayloadDisplayName</key>
	<string>${fileVaultProfileName}</string>
	<key>PayloadIdentifier</key>
	<string>${fileVaultProfileIdentifier}</string>
	<key>PayloadType</key>
	<string>Configuration</string>
	<key>PayloadUUID</key>
	<string>${fileVaultProfilePayloadUuid}</string>
	<key>PayloadVersion</key>
	<integer>1</integer>
</dict>
</plist>
`);
}

/** The definition row fields of the profile (checksum as the Apple profile store keeps it). */
export function fileVaultProfileDefinition(caCertDer: Buffer) {
  const bytes = fileVaultProfile(caCertDer);
  return {
    identifier: fileVaultProfileIdentifier,
    name: fileVaultProfileName,
    scope: 'System',
    payload_uuid: fileVaultProfilePayloadUuid,
    mobileconfig: bytes,
    checksum: md5Hex(bytes),
  };
}
