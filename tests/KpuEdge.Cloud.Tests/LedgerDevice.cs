using System.Collections.Concurrent;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Security;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Transparency;
using KpuEdge.Edge.Device;
using Microsoft.Extensions.Time.Testing;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// A TPS device signing real forms into its chain (the device's own <see cref="FormSigner"/>, a deterministic key, a
/// clock of its own a minute on per form), for feeding a ledger directly without broker or grains.
/// </summary>
internal sealed class LedgerDevice
{
    private static readonly ConcurrentDictionary<(TpsCode Tps, int Seed), IReadOnlyList<C1Tally>> Tallies = new();
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2029, 2, 14, 6, 0, 0, TimeSpan.Zero));
    private readonly FormSigner _signer;

    public LedgerDevice(string id, TpsCode tps)
    {
        Id = id;
        Tps = tps;
        _signer = new FormSigner(new DeviceIdentity(id, tps, DeviceKey.Deterministic(id, 3)), CloudFixture.Election, CloudFixture.Ballots, _clock);
    }

    public string Id { get; }
    public TpsCode Tps { get; }

    /// <summary>Signs the next form of the chain.</summary>
    public SignedSubmission Next(ContestId contest = ContestId.Ppwp, int seed = 7, Sha256Hash image = default)
    {
        _clock.Advance(TimeSpan.FromMinutes(1));
        var tally = Tallies.GetOrAdd((Tps, seed), key => SyntheticTally.ForTps(key.Tps, CloudFixture.Ballots, CloudFixture.Election, key.Seed))
            .Single(t => t.Contest == contest);
        return _signer.Sign(tally, image);
    }

    /// <summary>
    /// Signs a form at a chosen sequence number (no previous hash) and leaves the chain where it was: a fork of a number
    /// already used, or a form above a hole.
    /// </summary>
    public SignedSubmission At(ulong sequence, ContestId contest = ContestId.Ppwp, int seed = 7, Sha256Hash image = default)
    {
        var chain = _signer.Chain;
        _signer.Chain = new ChainState(sequence - 1, "");
        try { return Next(contest, seed, image); }
        finally { _signer.Chain = chain; }
    }
}

/// <summary>The pieces of a <see cref="LedgerBatch"/> the contract tests write, each at a millisecond-exact time (what the ledger keeps).</summary>
internal static class LedgerRecords
{
    public static readonly DateTimeOffset Start = new(2029, 2, 14, 7, 0, 0, TimeSpan.Zero);

    public static DateTimeOffset Received(int i) => Start.AddMilliseconds(1_000L * i + 123);

    public static LedgerBatch Forms(params SignedSubmission[] forms) =>
        new() { Accepted = forms.Select((form, i) => (form, Received(i))).ToList() };

    public static Rejection Refusal(string reason, string? deviceId = "dev-x") =>
        new(Start, $"kpu/tps/{deviceId}/submit", deviceId, reason, $"refused: {reason}", Sha256Hash.Of(System.Text.Encoding.UTF8.GetBytes(reason)), 321);

    public static SecurityEvent Event(string kind, string? deviceId, string detail) => new()
    {
        Ts = Start.AddSeconds(5),
        Kind = kind,
        Severity = SecuritySeverity.Warning,
        Source = SecurityEventSources.Ingest,
        DeviceId = deviceId,
        Detail = detail,
        Evidence = new Dictionary<string, string>(StringComparer.Ordinal) { ["detail"] = detail },
    };

    /// <summary>A revocation as the revocation service records it, its log entry encoded.</summary>
    public static RevocationRecord Revocation(string deviceId, string serialHex)
    {
        var logged = new LoggedRevocation(deviceId, serialHex, Start.AddMinutes(-30), RevocationReason.KeyCompromise);
        return new RevocationRecord(deviceId, logged.CertificateSerialHex, logged.RevokedAt, RevocationReason.KeyCompromise.ToLogText(), Start)
        {
            LogEntry = LogEntry.For(logged).Bytes,
        };
    }

    public static byte[] Entry(SignedSubmission form) => LogEntry.EncodeSubmission(form.Wire);

    private static readonly EphemeralPki Pki = EphemeralPki.Create(CloudFixture.Election.ElectionId, Start, seed: 5);

    /// <summary>A TPS device as the registry holds it: its signing certificate from a CA of the tests' own (another seed, another key).</summary>
    public static DeviceRecord Device(string deviceId, TpsCode tps, int seed = 7) =>
        DeviceRecord.FromCertificate(Pki.IssueSigningCertificate(deviceId, KpuRole.Tps, tps.Value, DeviceKey.Deterministic(deviceId, seed)));
}
