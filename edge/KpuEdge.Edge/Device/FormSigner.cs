using KpuEdge.Core.Protocol;
using System.Text.Json;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;

namespace KpuEdge.Edge.Device;

/// <summary>Where a device's chain of submissions stands: the last sequence number used and its hash.</summary>
public sealed record ChainState(ulong Sequence, string PreviousHash)
{
    public static ChainState Start => new(0, "");

    private static readonly JsonSerializerOptions Json = KpuJson.Files;

    public static ChainState Load(string path) =>
        File.Exists(path) ? JsonSerializer.Deserialize<ChainState>(File.ReadAllText(path), Json) ?? Start : Start;

    /// <summary>Saved atomically before the submission is sent, so a sequence number is never reused.</summary>
    public void Save(string path)
    {
        string temp = path + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(this, Json));
        File.Move(temp, path, overwrite: true);
    }
}

/// <summary>Thrown when a tally breaks a rule of the form: it must go back to the KPPS, never be signed.</summary>
public sealed class TallyRejectedException(IReadOnlyList<Violation> violations)
    : Exception("Formulir tidak konsisten: " + string.Join("; ", violations.Select(v => v.ToString())))
{
    public IReadOnlyList<Violation> Violations { get; } = violations;
}

/// <summary>Checks a tally against the form's rules and the TPS's ballot, then signs it into the device's chain.</summary>
public sealed class FormSigner(DeviceIdentity device, ElectionDefinition election, BallotCatalog ballots, TimeProvider time)
{
    private ChainState _chain = ChainState.Start;

    public ChainState Chain
    {
        get => _chain;
        set => _chain = value;
    }

    /// <param name="correctionReason">Why this form replaces one signed earlier for the same contest (required by the cloud then).</param>
    public SignedSubmission Sign(C1Tally tally, Sha256Hash imageHash = default, string? correctionReason = null)
    {
        if (tally.Tps != device.Tps)
            throw new InvalidOperationException($"This device serves TPS {device.Tps}, not {tally.Tps}.");
        var ballot = ballots.For(tally.Contest, tally.Tps)
                     ?? throw new InvalidOperationException($"{tally.Contest.Slug()} is not held at TPS {tally.Tps}.");
        var violations = C1Validator.Validate(tally, ballot);
        if (violations.Count > 0) throw new TallyRejectedException(violations);

        Sha256Hash.TryParseHex(_chain.PreviousHash, out var previous);
        var submission = new Submission
        {
            ElectionId = election.ElectionId,
            DeviceId = device.DeviceId,
            Sequence = _chain.Sequence + 1,
            PreviousHash = previous,
            DeviceTime = time.GetUtcNow(),
            ImageHash = imageHash,
            Tally = tally,
            CorrectionReason = correctionReason,
        };
        var signed = SignedSubmission.Sign(submission, device.Key);
        _chain = new ChainState(submission.Sequence, signed.Hash.ToString());
        return signed;
    }
}
