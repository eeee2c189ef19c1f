using System.Security.Cryptography;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Edge.Transport;
using MQTTnet.Exceptions;

namespace KpuEdge.Simulator;

/// <summary>
/// Bad input the demo throws at the cloud after the honest run: each must be refused — by the broker (TLS, client id,
/// topic ACL) or by the ingest (receipt reason) — or, for a replay, come back as a duplicate, and count nothing.
/// </summary>
public static class RogueDevices
{
    /// <param name="Outcome">The receipt's reason, "duplicate", or what the broker did ("acl_publish_denied", "connection_refused").</param>
    public sealed record Attempt(string What, string Expected, string Outcome)
    {
        public bool AsExpected => Outcome == Expected;
    }

    private static string OutcomeOf(Receipt receipt) => receipt.Status == ReceiptStatus.Duplicate ? "duplicate" : receipt.Reason ?? receipt.Status.ToString();

    /// <summary>
    /// The ingest's checks are exercised through the victim's own connection — as if its TLS key were stolen — since the
    /// broker's ACL already stops any other device from publishing to the victim's topics (that is tried too).
    /// </summary>
    public static async Task<IReadOnlyList<Attempt>> RunAsync(
        IReadOnlyList<SimulatedDevice> honest, ElectionDefinition election, SimulationTarget target, EphemeralPki pki, int seed,
        CancellationToken cancellationToken = default)
    {
        var victim = honest[0];
        var neighbour = honest[^1];
        var tally = victim.Tallies[0];
        var random = new Random(seed);
        var attempts = new List<Attempt>();
        // Receipts of refused forms carry no proof; this client takes them as they come (the log key is not needed).
        await using var rogue = new SubmissionClient(victim.Identity.DeviceId, target.ConnectionFor(victim) with { LogKey = null });
        await rogue.ConnectAsync(cancellationToken);

        Submission Make(C1Tally t, string deviceId, ulong sequence) => new()
        {
            ElectionId = election.ElectionId, DeviceId = deviceId, Sequence = sequence, DeviceTime = DateTimeOffset.UtcNow, Tally = t,
        };
        async Task Send(string what, string expected, SignedSubmission s)
        {
            // Always on the victim's own topic: the ACL lets nothing else through.
            var receipt = await rogue.SendAsync(Topics.Submission(victim.Identity.Tps, s.Submission.Contest, victim.Identity.DeviceId), s.Wire, s.Hash.ToArray(), TimeSpan.FromSeconds(30), 1, cancellationToken);
            attempts.Add(new Attempt(what, expected, OutcomeOf(receipt)));
        }

        await Send("forged signature (victim's device id, another key)", RejectReasons.BadSignature,
            SignedSubmission.Sign(Make(tally, victim.Identity.DeviceId, 1_000), DeviceKey.Generate()));
        await Send("unregistered device", RejectReasons.UnknownDevice,
            SignedSubmission.Sign(Make(tally, "dev-unregistered", 1), DeviceKey.Generate()));
        await Send("device signing another TPS's form", RejectReasons.DeviceNotAssigned,
            SignedSubmission.Sign(Make(neighbour.Tallies[0], victim.Identity.DeviceId, 1_001), victim.Identity.Key));
        // The misread Sirekap published: 58 read as 948. Signed by the real device key, so only the rules catch it.
        var misread = tally with { Suara = tally.Suara.Select((c, i) => i == 0 ? c with { Total = c.Total + 890 } : c).ToArray() };
        await Send("58 → 948 misread, validly signed", RejectReasons.InvalidTally,
            SignedSubmission.Sign(Make(misread, victim.Identity.DeviceId, 1_002), victim.Identity.Key));
        // Sequence 1 again, signed later than the device's newest form: its counter went back (restored or cloned).
        await Send("sequence number 1 again, signed later (a rewind)", RejectReasons.ChainRewind,
            SignedSubmission.Sign(Make(tally, victim.Identity.DeviceId, 1) with { DeviceTime = DateTimeOffset.UtcNow.AddSeconds(1) }, victim.Identity.Key));

        // Far beyond anything this device numbered: a forged counter is never counted. And a clock years ahead.
        await Send("sequence number a million ahead of the device's chain", RejectReasons.ChainJump,
            SignedSubmission.Sign(Make(tally, victim.Identity.DeviceId, 1_000_000), victim.Identity.Key));
        await Send("signed on 9999-12-31", RejectReasons.DeviceTimeOutOfRange,
            SignedSubmission.Sign(Make(tally, victim.Identity.DeviceId, 1_003) with { DeviceTime = new DateTimeOffset(9999, 12, 31, 0, 0, 0, TimeSpan.Zero) },
                victim.Identity.Key));

        // The probe's attack: a genuine neighbour that saw the victim's form (its witness QR carries the bytes) sends it
        // on its own topic, asking for the answer on the victim's receipt topic. The answer goes to the neighbour, and
        // is never final for the victim's form.
        var seen = SignedSubmission.Sign(Make(tally, victim.Identity.DeviceId, 1_004), victim.Identity.Key);
        await using (var turned = new SubmissionClient(neighbour.Identity.DeviceId, target.ConnectionFor(neighbour) with { LogKey = null }))
        {
            await turned.ConnectAsync(cancellationToken);
            var receipt = await turned.SendAsync(Topics.Submission(neighbour.Identity.Tps, seen.Submission.Contest, neighbour.Identity.DeviceId),
                seen.Wire, seen.Hash.ToArray(), TimeSpan.FromSeconds(30), 1, cancellationToken);
            attempts.Add(new Attempt("another TPS's form replayed by a genuine neighbour", RejectReasons.ReplayedByOtherDevice,
                receipt.Rejection is null ? OutcomeOf(receipt) : "signed as final"));
        }

        var randomBytes = new byte[200];
        random.NextBytes(randomBytes);
        var topic = Topics.Submission(victim.Identity.Tps, ContestId.Ppwp, victim.Identity.DeviceId);
        attempts.Add(new Attempt("random bytes", RejectReasons.Malformed,
            OutcomeOf(await rogue.SendAsync(topic, randomBytes, SHA256.HashData(randomBytes), TimeSpan.FromSeconds(30), 1, cancellationToken))));
        var huge = new byte[SubmissionCodec.MaxWireBytes + 1];
        attempts.Add(new Attempt("oversized payload", RejectReasons.Oversized,
            OutcomeOf(await rogue.SendAsync(topic, huge, SHA256.HashData(huge), TimeSpan.FromSeconds(30), 1, cancellationToken))));

        // The broker: another TPS's topic, and a device whose certificate KPU never issued.
        try
        {
            var other = Topics.Submission(neighbour.Identity.Tps, ContestId.Ppwp, victim.Identity.DeviceId);
            await rogue.SendAsync(other, randomBytes, SHA256.HashData(randomBytes), TimeSpan.FromSeconds(5), 1, cancellationToken);
            attempts.Add(new Attempt("publish to another TPS's topic", "acl_publish_denied", "published"));
        }
        catch (UnauthorizedAccessException)
        {
            attempts.Add(new Attempt("publish to another TPS's topic", "acl_publish_denied", "acl_publish_denied"));
        }
        var foreign = EphemeralPki.Create(election.ElectionId, DateTimeOffset.UtcNow, seed + 1_000_003)
            .IssueDevice(victim.Identity.DeviceId, KpuRole.Tps, victim.Identity.Tps.Value);
        // The outsider trusts the real broker (its certificate is no secret): the refusal must be the broker's, not the client's.
        attempts.Add(new Attempt("certificate from another CA", "connection_refused", await TryConnectAsync(foreign, target, pki.Trust, cancellationToken)));
        return attempts;
    }

    private static async Task<string> TryConnectAsync(DeviceCredentials device, SimulationTarget target, TrustStore serverTrust, CancellationToken cancellationToken)
    {
        try
        {
            await using var client = new SubmissionClient(device.DeviceId,
                BrokerConnection.For(device, target.BrokerHost, target.BrokerPort, null) with { Trust = serverTrust });
            await client.ConnectAsync(cancellationToken);
            return "connected";
        }
        catch (Exception e) when (e is MqttCommunicationException or System.Security.Authentication.AuthenticationException or IOException
                                  or MQTTnet.Adapter.MqttConnectingFailedException)
        {
            return "connection_refused";
        }
    }

    /// <summary>Replays a form the cloud already accepted, byte for byte: it must be a duplicate, counted once.</summary>
    public static async Task<Attempt> ReplayAsync(SignedSubmission accepted, BrokerConnection connection, string deviceId, CancellationToken cancellationToken = default)
    {
        await using var client = new SubmissionClient(deviceId, connection);
        await client.ConnectAsync(cancellationToken);
        var receipt = await client.SubmitAsync(accepted, TimeSpan.FromSeconds(30), 1, cancellationToken);
        return new Attempt("replay of an accepted form (its receipt's proof verified)", "duplicate", OutcomeOf(receipt));
    }
}
