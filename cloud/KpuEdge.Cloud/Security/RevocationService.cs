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
/// An installed list is kept in the ledger's database (<see cref="IRevocationLists"/>), where every node finds it: at
/// start, and within <see cref="CloudOptions.CrlPollInterval"/> when another node installs one (<see cref="CrlFollower"/>).
/// </summary>
public sealed class RevocationService(
    CloudPki pki, LedgerWriter writer, IRevocationLists lists, IDeviceDirectory directory, IAuditTrail audit, IServiceProvider services,
    IOptions<CloudOptions> options, TimeProvider time, ILogger<RevocationService> logger)
{
    private readonly SemaphoreSlim _lock = new(1, 1);

    /// <summary>
    /// At start: a list this node was given (<c>crl.der</c> in its PKI directory, or a file at <see cref="CloudOptions.CrlPath"/>
    /// from before the database kept them) goes into the ledger if it is newer than the one there; the ledger's newest is
    /// installed; then any revocation the trust store holds that the log does not is logged (a crash between install
    /// and log), so none stays hidden.
    /// </summary>
    public async Task LoadSavedAsync()
    {
        foreach (var crl in pki.Trust.Crls) await lists.SaveCrlAsync(new StoredCrl(CrlVersion.Of(crl), crl.Der));
        string path = options.Value.CrlPath;
        if (File.Exists(path))
        {
            try { await InstallAsync(await File.ReadAllBytesAsync(path)); }
            catch (CrlRefusedException e) { logger.LogInformation("Revocation list file {Path} not installed: {Reason}", path, e.Message); }
        }
        await FollowAsync();
        await _lock.WaitAsync();
        try
        {
            var all = pki.Trust.Crls.SelectMany(c => c.Entries).ToList();
            if (all.Count > 0) await LogNewAsync(all);
        }
        finally { _lock.Release(); }
    }

    /// <summary>
    /// Installs a revocation list delivered to this node: signed by a KPU issuing CA, newer than this node's and than the
    /// one the ledger holds (another node may have installed a newer one); stored in the ledger for every node.
    /// </summary>
    /// <exception cref="CrlRefusedException">Not a CRL, not the CA's, or not newer: the reason says which.</exception>
    public async Task<RevocationOutcome> InstallAsync(byte[] der)
    {
        await _lock.WaitAsync();
        try
        {
            var crl = pki.CheckCrl(der);
            var version = CrlVersion.Of(crl);
            if (!await lists.SaveCrlAsync(new StoredCrl(version, crl.Der)))
            {
                var held = (await lists.CrlVersionsAsync()).FirstOrDefault(v => v.Issuer == version.Issuer);
                throw new CrlRefusedException(
                    $"The revocation list {version.Number} of {version.ThisUpdate:O} is not newer than the one the cloud holds" +
                    (held is null ? "." : $" ({held.Number} of {held.ThisUpdate:O}), installed through another node."));
            }
            var outcome = await ApplyAsync(crl);
            logger.LogWarning("Revocation list {Number} of {Issuer} installed: {Added} new revocations, {Logged} logged",
                version.Number, version.Issuer, outcome.Added.Count, outcome.Logged.Count);
            return outcome;
        }
        finally { _lock.Release(); }
    }

    /// <summary>
    /// Installs every list the ledger holds that is newer than this node's — installed through another node — checked
    /// against the CA like any other. What <see cref="CrlFollower"/> runs every <see cref="CloudOptions.CrlPollInterval"/>.
    /// </summary>
    /// <returns>The revocations it added here.</returns>
    public async Task<IReadOnlyList<RevokedCertificate>> FollowAsync()
    {
        var added = new List<RevokedCertificate>();
        await _lock.WaitAsync();
        try
        {
            var mine = pki.Trust.Crls.ToDictionary(c => c.IssuerCommonName, CrlVersion.Of, StringComparer.Ordinal);
            var newer = (await lists.CrlVersionsAsync()).Where(v => !mine.TryGetValue(v.Issuer, out var held) || v.IsNewerThan(held));
            foreach (var version in newer)
            {
                if (await lists.CrlAsync(version.Issuer) is not { } stored) continue;
                try
                {
                    var outcome = await ApplyAsync(pki.CheckCrl(stored.Der));
                    added.AddRange(outcome.Added);
                    logger.LogWarning("Revocation list {Number} of {Issuer} installed from the ledger (delivered to another node): {Added} new revocations",
                        stored.Version.Number, version.Issuer, outcome.Added.Count);
                }
                catch (CrlRefusedException e)
                {
                    logger.LogError("The ledger's revocation list of {Issuer} is not installed: {Reason}", version.Issuer, e.Message);
                }
            }
        }
        finally { _lock.Release(); }
        return added;
    }

    /// <summary>Installs a checked list here, logs what it revokes (once in the whole cluster), disconnects revoked clients.</summary>
    private async Task<RevocationOutcome> ApplyAsync(RevocationList crl)
    {
        var added = pki.InstallCrl(crl);
        var logged = await LogNewAsync(added);
        var broker = services.GetService<EmbeddedBroker>();
        if (broker is not null && added.Count > 0)
            _ = broker.DisconnectRevokedAsync(added.Select(a => a.SerialHex).ToHashSet(StringComparer.Ordinal));
        return new RevocationOutcome(added, logged);
    }

    /// <summary>Appends to the log the revocations of known devices' signing certificates that it does not hold yet.</summary>
    private async Task<List<RevocationRecord>> LogNewAsync(IReadOnlyList<RevokedCertificate> added)
    {
        {
            var alreadyLogged = await LoggedSerialsAsync();
            var now = time.GetUtcNow();
            // One indexed lookup of the revoked serials, not a pass over 820k devices.
            var bySerial = new Dictionary<string, DeviceRecord>(StringComparer.Ordinal);
            foreach (var d in await directory.DevicesWithCertificatesAsync(added.Select(a => a.SerialHex).Where(s => !alreadyLogged.Contains(s)).ToList()))
                bySerial[d.SigningCertificate!.SerialHex] = d;
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
        (await audit.RevocationsAsync()).Select(r => r.SerialHex).ToHashSet(StringComparer.Ordinal);
}

/// <summary>
/// Every node looks for a revocation list newer than its own in the ledger's database every
/// <see cref="CloudOptions.CrlPollInterval"/> (one small read): a list installed through any node is enforced by every
/// node within that interval.
/// </summary>
public sealed class CrlFollower(RevocationService revocations, IOptions<CloudOptions> options, TimeProvider time, ILogger<CrlFollower> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.CrlPollInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try { await revocations.FollowAsync(); }
                catch (Exception e) { logger.LogError(e, "Looking for a newer revocation list failed; the next tick tries again"); }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }
}
