using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Ppk;
using KpuEdge.Edge.Device;

namespace KpuEdge.Edge.Relay;

/// <summary>
/// Signs a PPK station's statements into its own chain (sequence, previous hash), with its signing certificate inside:
/// the station's counterpart of <see cref="FormSigner"/>. A correction is checked against every rule of the C.Hasil
/// form first and never signed while one breaks; the outbox keeps the chain (<see cref="Delivery.Outbox.SignAndAdd(StatementSigner, PpkStatement)"/>).
/// </summary>
public sealed class StatementSigner(string stationId, RegionCode kecamatan, KpuCertificate certificate, DeviceKey key,
    ElectionDefinition election, BallotCatalog ballots, TimeProvider time)
{
    public static StatementSigner For(DeviceCredentials station, ElectionDefinition election, BallotCatalog ballots, TimeProvider time) =>
        new(station.DeviceId, RegionCode.Parse(station.Identity.Assignment), station.SigningCertificate, station.SigningKey, election, ballots, time);

    public string StationId => stationId;
    public RegionCode Kecamatan => kecamatan;

    /// <summary>Where the station's chain of statements stands; the outbox sets it from what it holds before each signing.</summary>
    public ChainState Chain { get; set; } = ChainState.Start;

    /// <summary>
    /// Signs <paramref name="statement"/> (its header — election, station, kecamatan, sequence, previous hash, time — is
    /// filled in here) as the next link of the chain. Throws <see cref="TallyRejectedException"/> for a correction whose
    /// numbers break a rule, and <see cref="ArgumentException"/> for a form outside the kecamatan or a contest not held.
    /// </summary>
    public SignedPpkStatement Sign(PpkStatement statement)
    {
        foreach (var form in statement.Forms)
        {
            if (!kecamatan.Contains(form.Tps.Region)) throw new ArgumentException($"TPS {form.Tps} is not in kecamatan {kecamatan}.", nameof(statement));
            if (ballots.For(form.Contest, form.Tps) is null) throw new ArgumentException($"{form.Contest.Slug()} is not held at TPS {form.Tps}.", nameof(statement));
        }
        if (statement is PpkCorrection correction)
        {
            var violations = C1Validator.Validate(correction.Tally, ballots.For(correction.Tally.Contest, correction.Tally.Tps));
            if (violations.Count > 0) throw new TallyRejectedException(violations);
        }
        Sha256Hash.TryParseHex(Chain.PreviousHash, out var previous);
        var header = statement with
        {
            ElectionId = election.ElectionId,
            StationId = stationId,
            Kecamatan = kecamatan,
            Sequence = Chain.Sequence + 1,
            PreviousHash = previous,
            StationTime = time.GetUtcNow(),
        };
        var signed = SignedPpkStatement.Sign(header, certificate, key);
        Chain = new ChainState(header.Sequence, signed.Hash.ToString());
        return signed;
    }

    /// <summary>A statement's header before <see cref="Sign"/> fills it: every statement is made through these.</summary>
    public PpkVerification Verification(IReadOnlyList<FormReference> forms) =>
        new() { ElectionId = "", StationId = stationId, Kecamatan = kecamatan, Sequence = 1, StationTime = default, Verified = forms };

    public PpkObjection Objection(FormReference form, string objector, string text) =>
        new() { ElectionId = "", StationId = stationId, Kecamatan = kecamatan, Sequence = 1, StationTime = default, Form = form, Objector = objector, Text = text };

    public PpkCorrection Correction(FormReference replaces, string reason, C1Tally tally) =>
        new() { ElectionId = "", StationId = stationId, Kecamatan = kecamatan, Sequence = 1, StationTime = default, Replaces = replaces, Reason = reason, Tally = tally };

    public KecamatanRecap Recap(ContestId contest, IReadOnlyList<FormReference> forms, TallySum totals) =>
        new() { ElectionId = "", StationId = stationId, Kecamatan = kecamatan, Sequence = 1, StationTime = default, Contest = contest, Summed = forms, Totals = totals };
}
