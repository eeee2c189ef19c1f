using System.Globalization;
using KpuEdge.Cloud.Broker;
using KpuEdge.Cloud.Ingest;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Cloud.Transparency;
using KpuEdge.Core.Security;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Transparency;
using Microsoft.Extensions.Options;

namespace KpuEdge.Cloud.Security;

/// <summary>What installing a revocation list did.</summary>
public sealed record RevocationOutcome(IReadOnlyList<RevokedCertificate> Added, IReadOnlyList<RevocationRecord> Logged);

/// <summary>
/// Applies the issuing CA's revocation lists: the new trust store refuses the revoked certificates at once (TLS and
/// submissions signed after the revocation); each revoked signing certificate of a known device is appended to the
/// transparency log, so a revocation can be neither hidden nor backdated; connected clients whose TLS certificate
/// was revoked are disconnected. Forms accepted before stay in the ledger and the log, marked in the API, never deleted.
/// </summary>
public sealed class RevocationService(
    CloudPki pki, LedgerWriter writer, DeviceRegistryProvider devices, IServiceProvider services,
    IOptions<CloudOptions> options, TimeProvider time, ILogger<RevocationService> logger)
{
    private readonly SemaphoreSlim _lock = new(1, 1);

    /// <summary>
    /// At start: installs the CRL saved by an earlier run, then logs any revocation the trust store holds that the log
    /// does not (a crl.der placed in the PKI directory, or a crash between install and log), so none stays hidden.
    /// </summary>
    public async Task LoadSavedAsync()
    {
        string path = options.Value.CrlPath;
        if (File.Exists(path))
        {
            try { await InstallAsync(await File.ReadAllBytesAsync(path), save: false); }
            catch (CrlRefusedException e) { logger.LogWarning("Saved revocation list {Path} not installed: {Reason}", path, e.Message); }
        }
        await _lock.WaitAsync();
        try
        {
            var all = pki.Trust.Crls.SelectMany(c => c.Entries).ToList();
            if (all.Count > 0) await LogNewAsync(all);
        }
        finally { _lock.Release(); }
    }

    public Task<RevocationOutcome> InstallAsync(byte[] der) => InstallAsync(der, save: true);

    private async Task<RevocationOutcome> InstallAsync(byte[] der, bool save)
    {
        await _lock.WaitAsync();
        try
        {
            var added = pki.InstallCrl(der);
            if (save) Save(der);
            var loggedRecords = await LogNewAsync(added);
            logger.LogWarning("Revocation list installed: {Added} new revocations, {Logged} logged", added.Count, loggedRecords.Count);
            var broker = services.GetService<EmbeddedBroker>();
            if (broker is not null && added.Count > 0)
                _ = broker.DisconnectRevokedAsync(added.Select(a => a.SerialHex).ToHashSet(StringComparer.Ordinal));
            return new RevocationOutcome(added, loggedRecords);
        }
        finally { _lock.Release(); }
    }

    /// <summary>Appends to the log the revocations of known devices' signing certificates that it does not hold yet.</summary>
    private async Task<List<RevocationRecord>> LogNewAsync(IReadOnlyList<RevokedCertificate> added)
    {
        {
            var alreadyLogged = await LoggedSerialsAsync();
            var now = time.GetUtcNow();
            // One pass over the registry, not one per revoked serial: a CRL may list thousands against 820k devices.
            var bySerial = new Dictionary<string, DeviceRecord>(StringComparer.Ordinal);
            foreach (var d in devices.Registry.All)
                if (d.SigningCertificate is { } c) bySerial[c.SerialHex] = d;
            var records = new List<RevocationRecord>();
            var revokedEvents = new List<SecurityEvent>();
            foreach (var entry in added)
            {
                if (!bySerial.TryGetValue(entry.SerialHex, out var device) || !alreadyLogged.Add(entry.SerialHex)) continue;
                var logged = new LoggedRevocation(device.DeviceId, entry.SerialHex, entry.RevokedAt, entry.Reason);
                records.Add(new RevocationRecord(device.DeviceId, logged.CertificateSerialHex, logged.RevokedAt, entry.Reason.ToLogText(), now)
                {
                    LogEntry = LogEntry.For(logged).Bytes,
                });
                revokedEvents.Add(new SecurityEvent
                {
                    Ts = now, Kind = SecurityEventKinds.DeviceRevoked, Severity = SecuritySeverity.Warning, Source = SecurityEventSources.Pki,
                    DeviceId = device.DeviceId, Tps = device.Tps.Value,
                    Detail = $"signing certificate {entry.SerialHex} revoked at {entry.RevokedAt:O} ({entry.Reason.ToLogText()})",
                    Evidence = new Dictionary<string, string>(StringComparer.Ordinal)
                    {
                        ["serial"] = entry.SerialHex,
                        ["revoked_at"] = entry.RevokedAt.ToString("O", CultureInfo.InvariantCulture),
                        ["reason"] = entry.Reason.ToLogText(),
                    },
                });
            }
            if (records.Count == 0) return records;
            var commit = await writer.AppendAsync(new LedgerBatch { Revocations = records, Events = revokedEvents });
            return records.Select((r, i) => r with { LogIndex = commit.RevocationLogIndexes[i] }).ToList();
        }
    }

    private async Task<HashSet<string>> LoggedSerialsAsync() =>
        (await services.GetRequiredService<IAuditTrail>().RevocationsAsync()).Select(r => r.SerialHex).ToHashSet(StringComparer.Ordinal);

    private void Save(byte[] der)
    {
        string path = options.Value.CrlPath;
        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        File.WriteAllBytes(path + ".tmp", der);
        File.Move(path + ".tmp", path, overwrite: true);
    }
}
