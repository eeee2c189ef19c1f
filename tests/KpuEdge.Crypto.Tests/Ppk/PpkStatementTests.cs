using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Ppk;
using KpuEdge.Crypto.Transparency;

namespace KpuEdge.Crypto.Tests.Ppk;

public sealed class PpkStatementTests
{
    private static readonly EphemeralPki Pki = EphemeralPki.Create(Samples.Election.ElectionId, Samples.SignedAt, seed: 7);
    private static readonly RegionCode Sukasari = RegionCode.Parse("327301");
    private static readonly DeviceCredentials Station = Pki.IssueDevice("ppk-327301", KpuRole.Ppk, "327301");
    private static readonly DeviceCredentials OtherStation = Pki.IssueDevice("ppk-327302", KpuRole.Ppk, "327302");

    private static FormReference Form(ContestId contest = ContestId.Ppwp) => new(Samples.Tps, contest, Samples.Signed(contest).Hash);

    private static PpkVerification Verification(params FormReference[] forms) => new()
    {
        ElectionId = Samples.Election.ElectionId, StationId = Station.DeviceId, Kecamatan = Sukasari, Sequence = 1, StationTime = Samples.SignedAt,
        Verified = forms,
    };

    private static SignedPpkStatement Sign(PpkStatement s, DeviceCredentials? by = null) =>
        SignedPpkStatement.Sign(s, (by ?? Station).SigningCertificate, (by ?? Station).SigningKey);

    /// <summary>What an attacker can make with the public codec: any statement under any certificate, signed by any key.</summary>
    private static SignedPpkStatement Forge(PpkStatement s, KpuCertificate certificate, DeviceKey key)
    {
        var body = PpkStatementCodec.EncodeBody(s, certificate);
        return SignedPpkStatement.Decode(PpkStatementCodec.EncodeWire(body, key.Sign(PpkStatementCodec.SignedMessage(body))));
    }

    [Fact]
    public void Every_kind_round_trips_byte_for_byte_with_its_certificate_and_signature()
    {
        var corrected = Samples.Tally(ContestId.Ppwp);
        corrected = corrected with { Suara = [.. corrected.Suara.Select((c, i) => i == 0 ? c with { Total = c.Total + 1 } : c)], SuaraSah = corrected.SuaraSah + 1, SuaraTotal = corrected.SuaraTotal + 1 };
        PpkStatement[] statements =
        [
            Verification(Form(ContestId.Ppwp), Form(ContestId.Dpr)),
            new PpkObjection
            {
                ElectionId = Samples.Election.ElectionId, StationId = Station.DeviceId, Kecamatan = Sukasari, Sequence = 2, PreviousHash = Sha256Hash.Of("s1"u8),
                StationTime = Samples.SignedAt, Form = Form(), Objector = "Saksi Paslon 01", Text = "Jumlah suara paslon 1 di C.Hasil plano 158, bukan 58.",
            },
            new PpkCorrection
            {
                ElectionId = Samples.Election.ElectionId, StationId = Station.DeviceId, Kecamatan = Sukasari, Sequence = 3, PreviousHash = Sha256Hash.Of("s2"u8),
                StationTime = Samples.SignedAt, Replaces = Form(), Reason = "Pleno PPK: dihitung ulang dari C.Hasil plano", Tally = corrected,
            },
            new KecamatanRecap
            {
                ElectionId = Samples.Election.ElectionId, StationId = Station.DeviceId, Kecamatan = Sukasari, Sequence = 4, PreviousHash = Sha256Hash.Of("s3"u8),
                StationTime = Samples.SignedAt, Contest = ContestId.Dpr, Summed = [Form(ContestId.Dpr)],
                Totals = TallySum.Of(ContestId.Dpr, [Samples.Tally(ContestId.Dpr)]),
            },
        ];
        foreach (var statement in statements)
        {
            var signed = Sign(statement);
            var decoded = SignedPpkStatement.Decode(signed.Wire);
            Assert.Null(decoded.SignerProblem());
            Assert.Equal(signed.Hash, decoded.Hash);
            Assert.Equal(statement.Kind, decoded.Statement.Kind);
            Assert.Equal(statement.Forms, decoded.Statement.Forms);
            Assert.Equal(Station.SigningCertificate.Der, decoded.Certificate.Der);
            Assert.Equal(signed.Wire, Sign(decoded.Statement).Wire); // one encoding: re-signing the decoded statement gives the same bytes
            var entry = LogEntry.Decode(LogEntry.For(signed).Bytes);
            Assert.Equal(LogEntryType.PpkStatement, entry.Type);
            Assert.Equal(signed.Hash, entry.Statement!.Hash);
        }
        var correction = (PpkCorrection)SignedPpkStatement.Decode(Sign(statements[2]).Wire).Statement;
        Assert.Equal(corrected.ToJson(), correction.Tally.ToJson());
        var recap = (KecamatanRecap)SignedPpkStatement.Decode(Sign(statements[3]).Wire).Statement;
        Assert.Empty(recap.Totals.Differences(Samples.Tally(ContestId.Dpr)));
    }

    [Fact]
    public void The_D_Hasil_of_the_largest_2024_kecamatan_fits_one_message()
    {
        var largest = RegionCode.Parse("317506"); // KEC. CAKUNG, KOTA JAKARTA TIMUR: 1,591 TPS
        var tps = Samples.Tree.TpsIn(largest).ToList();
        Assert.True(tps.Count > 1500, $"{largest} has {tps.Count} TPS");
        var tallies = tps.Select(t => SyntheticTally.ForTps(t, Samples.Election.Ballots(Samples.Tree), Samples.Election, 1).Single(x => x.Contest == ContestId.Dpr)).ToList();
        var station = Pki.IssueDevice("ppk-" + largest.Value, KpuRole.Ppk, largest.Value);
        var recap = new KecamatanRecap
        {
            ElectionId = Samples.Election.ElectionId, StationId = station.DeviceId, Kecamatan = largest, Sequence = 1, StationTime = Samples.SignedAt,
            Contest = ContestId.Dpr, Summed = [.. tps.Select(t => new FormReference(t, ContestId.Dpr, Sha256Hash.Of(t.Value.Select(c => (byte)c).ToArray())))],
            Totals = TallySum.Of(ContestId.Dpr, tallies),
        };
        var signed = SignedPpkStatement.Sign(recap, station.SigningCertificate, station.SigningKey);
        Assert.True(signed.Wire.Length <= PpkStatementCodec.MaxWireBytes, $"{signed.Wire.Length} bytes");
        Assert.Equal(tps, SignedPpkStatement.Decode(signed.Wire).Statement.Forms.Select(f => f.Tps));
    }

    [Fact]
    public void The_certificate_inside_must_be_the_stations_own_for_its_kecamatan_and_the_signature_its_key()
    {
        // Another kecamatan's station signing for Sukasari: its certificate names 327302.
        var foreign = Forge(Verification(Form()) with { StationId = OtherStation.DeviceId }, OtherStation.SigningCertificate, OtherStation.SigningKey);
        Assert.Contains("kecamatan 327302", foreign.SignerProblem());
        // A statement claiming another station's name.
        var impostor = Forge(Verification(Form()), OtherStation.SigningCertificate, OtherStation.SigningKey);
        Assert.Contains("says it is from", impostor.SignerProblem());
        // A TPS device's certificate is not a station's.
        var device = Pki.IssueDevice(Samples.DeviceId, KpuRole.Tps, Samples.Tps.Value);
        Assert.Contains("not a PPK station", Forge(Verification(Form()) with { StationId = device.DeviceId }, device.SigningCertificate, device.SigningKey).SignerProblem());
        // One bit of the numbers changed after signing.
        var wire = Sign(Verification(Form())).Wire;
        var tampered = wire.ToArray();
        tampered[^70] ^= 1;
        var decoded = SignedPpkStatement.Decode(tampered);
        Assert.Equal("the signature does not verify with the station's certificate", decoded.SignerProblem());
        // Signed by another key than the certificate's.
        Assert.Equal("the signature does not verify with the station's certificate", Forge(Verification(Form()), Station.SigningCertificate, OtherStation.SigningKey).SignerProblem());
        // A station never signs what it could not stand behind.
        Assert.Throws<ArgumentException>(() => SignedPpkStatement.Sign(Verification(Form()), Station.SigningCertificate, OtherStation.SigningKey));
        Assert.Throws<ArgumentException>(() => SignedPpkStatement.Sign(Verification(Form()), OtherStation.SigningCertificate, OtherStation.SigningKey));
    }

    [Fact]
    public void Malformed_and_out_of_bounds_statements_are_refused_with_their_reason()
    {
        Assert.Contains("not in kecamatan", Assert.Throws<PpkStatementFormatException>(() =>
            Sign(Verification(new FormReference(TpsCode.Parse("1101012001001"), ContestId.Ppwp, Sha256Hash.Of("x"u8))))).Message);
        Assert.Contains("named twice", Assert.Throws<PpkStatementFormatException>(() => Sign(Verification(Form(), Form()))).Message);
        Assert.Contains("1..500", Assert.Throws<PpkStatementFormatException>(() => Sign(Verification())).Message);
        var objection = new PpkObjection
        {
            ElectionId = "", StationId = Station.DeviceId, Kecamatan = Sukasari, Sequence = 1, StationTime = Samples.SignedAt, Form = Form(), Objector = "Panwascam", Text = "  ",
        };
        Assert.Throws<PpkStatementFormatException>(() => Sign(objection));
        var correction = new PpkCorrection
        {
            ElectionId = "", StationId = Station.DeviceId, Kecamatan = Sukasari, Sequence = 1, StationTime = Samples.SignedAt, Replaces = Form(), Reason = "",
            Tally = Samples.Tally(ContestId.Ppwp),
        };
        Assert.Contains("says why", Assert.Throws<PpkStatementFormatException>(() => Sign(correction)).Message);
        Assert.Contains("another TPS or contest", Assert.Throws<PpkStatementFormatException>(() => Sign(correction with { Reason = "pleno", Tally = Samples.Tally(ContestId.Dpd) })).Message);

        Assert.Throws<PpkStatementFormatException>(() => SignedPpkStatement.Decode(new byte[PpkStatementCodec.MaxWireBytes + 1]));
        Assert.Throws<PpkStatementFormatException>(() => SignedPpkStatement.Decode("not cbor"u8.ToArray()));
        var good = Sign(Verification(Form())).Wire;
        Assert.Throws<PpkStatementFormatException>(() => SignedPpkStatement.Decode(good[..^1]));
        Assert.Throws<PpkStatementFormatException>(() => SignedPpkStatement.Decode(good.Append((byte)0).ToArray()));
        // A submission is not a statement, whatever its bytes say.
        Assert.Throws<PpkStatementFormatException>(() => SignedPpkStatement.Decode(Samples.Signed(ContestId.Ppwp).Wire));
    }
}
