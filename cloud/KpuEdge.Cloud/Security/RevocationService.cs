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
    CloudPki pki, TransparencyLog log, DeviceRegistryProvider devices, IServiceProvider services,
    IOptions<CloudOptions> options, TimeProvider time, ILogger<RevocationService> logger)
{
    private readonly Lock _lock = new();

    /// <summary>
    /// At start: installs the CRL saved by an earlier run, then logs any revocation the trust store holds that the log
    /// does not (a crl.der placed in the PKI directory, or a crash between install and log), so none stays hidden.
    /// </summary>
    public void LoadSaved()
    {
        string path = options.Value.CrlPath;
        if (File.Exists(path))
        {
            try { Install(File.ReadAllBytes(path), save: false); }
            catch (CrlRefusedException e) { logger.LogWarning("Saved revocation list {Path} not installed: {Reason}", path, e.Message); }
        }
        lock (_lock)
        {
            var all = pki.Trust.Crls.SelectMany(c => c.Entries).ToList();
            if (all.Count > 0) LogNew(all);
        }
    }

    public RevocationOutcome Install(byte[] der) => Install(der, save: true);

    private RevocationOutcome Install(byte[] der, bool save)
    {
        lock (_lock)
        {
            var added = pki.InstallCrl(der);
            if (save) Save(der);
            var loggedRecords = LogNew(added);
            logger.LogWarning("Revocation list installed: {Added} new revocations, {Logged} logged", added.Count, loggedRecords.Count);
            var broker = services.GetService<EmbeddedBroker>();
            if (broker is not null && added.Count > 0)
                _ = broker.DisconnectRevokedAsync(added.Select(a => a.SerialHex).ToHashSet(StringComparer.Ordinal));
            return new RevocationOutcome(added, loggedRecords);
        }
    }

    /// <summary>Appends to the log the revocations of known devices' signing certificates that it does not hold yet.</summary>
    private List<RevocationRecord> LogNew(IReadOnlyList<RevokedCertificate> added)
    {
        {
            var alreadyLogged = LoggedSerials();
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
            var (commit, _) = log.Commit(new LedgerBatch { Revocations = records, Events = revokedEvents });
            return records.Select((r, i) => r with { LogIndex = commit.RevocationLogIndexes[i] }).ToList();
        }
    }

    private HashSet<string> LoggedSerials() =>
        services.GetRequiredService<IResultsLedger>().Revocations().Select(r => r.SerialHex).ToHashSet(StringComparer.Ordinal);

    private void Save(byte[] der)
    {
        string path = options.Value.CrlPath;
        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        File.WriteAllBytes(path + ".tmp", der);
        File.Move(path + ".tmp", path, overwrite: true);
    }
}
