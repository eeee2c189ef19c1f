using System.Security.Cryptography;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Edge.Transport;

namespace KpuEdge.Simulator;

/// <summary>
/// Bad input the demo throws at the cloud after the honest run: each must come back rejected (or, for a replay,
/// as a duplicate) and count nothing.
/// </summary>
public static class RogueDevices
{
    public sealed record Attempt(string What, string Expected, Receipt Receipt)
    {
        public bool AsExpected => Receipt.Status == ReceiptStatus.Duplicate ? Expected == "duplicate" : Receipt.Reason == Expected;
    }

    public static async Task<IReadOnlyList<Attempt>> RunAsync(
        IReadOnlyList<SimulatedDevice> honest, ElectionDefinition election, string host, int port, int seed, CancellationToken cancellationToken = default)
    {
        var victim = honest[0];
        var neighbour = honest[^1];
        var tally = victim.Tallies[0];
        var random = new Random(seed);
        var attempts = new List<Attempt>();
        await using var rogue = new SubmissionClient("rogue-device", host, port);
        await rogue.ConnectAsync(cancellationToken);

        Submission Make(C1Tally t, string deviceId, ulong sequence) => new()
        {
            ElectionId = election.ElectionId, DeviceId = deviceId, Sequence = sequence, DeviceTime = DateTimeOffset.UtcNow, Tally = t,
        };
        async Task Send(string what, string expected, SignedSubmission s)
        {
            var receipt = await rogue.SendAsync(Topics.Submission(s.Submission.Tps, s.Submission.Contest), s.Wire, s.Hash.ToArray(), TimeSpan.FromSeconds(30), 1, cancellationToken);
            attempts.Add(new Attempt(what, expected, receipt));
        }

        await Send("forged signature (victim's device id, another key)", RejectReasons.BadSignature,
            SignedSubmission.Sign(Make(tally, victim.Identity.DeviceId, 1_000), DeviceKey.Generate()));
        await Send("unregistered device", RejectReasons.UnknownDevice,
            SignedSubmission.Sign(Make(tally, "dev-unregistered", 1), DeviceKey.Generate()));
        await Send("device publishing another TPS's form", RejectReasons.DeviceNotAssigned,
            SignedSubmission.Sign(Make(neighbour.Tallies[0], victim.Identity.DeviceId, 1_001), victim.Identity.Key));
        // The misread Sirekap published: 58 read as 948. Signed by the real device key, so only the rules catch it.
        var misread = tally with { Suara = tally.Suara.Select((c, i) => i == 0 ? c with { Total = c.Total + 890 } : c).ToArray() };
        await Send("58 → 948 misread, validly signed", RejectReasons.InvalidTally,
            SignedSubmission.Sign(Make(misread, victim.Identity.DeviceId, 1_002), victim.Identity.Key));
        // Sequence 1 was used by the honest device for another form (its device time differs): a rewind.
        await Send("stale sequence number (1 again, different form)", RejectReasons.StaleSequence,
            SignedSubmission.Sign(Make(tally, victim.Identity.DeviceId, 1) with { DeviceTime = DateTimeOffset.UtcNow.AddSeconds(1) }, victim.Identity.Key));

        var randomBytes = new byte[200];
        random.NextBytes(randomBytes);
        var topic = Topics.Submission(victim.Identity.Tps, ContestId.Ppwp);
        attempts.Add(new Attempt("random bytes", RejectReasons.Malformed,
            await rogue.SendAsync(topic, randomBytes, SHA256.HashData(randomBytes), TimeSpan.FromSeconds(30), 1, cancellationToken)));
        var huge = new byte[SubmissionCodec.MaxWireBytes + 1];
        attempts.Add(new Attempt("oversized payload", RejectReasons.Oversized,
            await rogue.SendAsync(topic, huge, SHA256.HashData(huge), TimeSpan.FromSeconds(30), 1, cancellationToken)));
        return attempts;
    }

    /// <summary>Replays a form the cloud already accepted, byte for byte: it must be a duplicate, counted once.</summary>
    public static async Task<Attempt> ReplayAsync(SignedSubmission accepted, string host, int port, CancellationToken cancellationToken = default)
    {
        await using var rogue = new SubmissionClient("replaying-device", host, port);
        await rogue.ConnectAsync(cancellationToken);
        var receipt = await rogue.SendAsync(Topics.Submission(accepted.Submission.Tps, accepted.Submission.Contest), accepted.Wire,
            accepted.Hash.ToArray(), TimeSpan.FromSeconds(30), 1, cancellationToken);
        return new Attempt("replay of an accepted form", "duplicate", receipt);
    }
}
