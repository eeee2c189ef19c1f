using System.CommandLine;
using KpuEdge.Core.Elections;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Transparency;
using QRCoder;

namespace KpuEdge.Edge.Commands;

/// <summary>
/// `kpu-edge witness-qr`: the QR code the device shows the saksi (party witnesses) after signing: the signed
/// submission itself (<see cref="WitnessQr"/>), so a photo of the screen lets anyone check the signature and the
/// public log with kpu-verify, without trusting the device or KPU's servers.
/// </summary>
public static class WitnessQrCommand
{
    /// <summary>Pixels per QR module: a phone resolves ~8 px modules on a screen or a print at arm's length.</summary>
    public const int PixelsPerModule = 8;

    public static Command Create()
    {
        var submission = new Option<string>("--submission") { Description = "The signed submission (wire bytes) to show", Required = true };
        var output = new Option<string>("--out") { Description = "PNG file to write", DefaultValueFactory = _ => "witness-qr.png" };
        var command = new Command("witness-qr", "Render the signed submission as the QR code for the saksi (PNG, ECC level M).") { submission, output };
        command.SetAction(parse => Run(parse.GetValue(submission)!, parse.GetValue(output)!));
        return command;
    }

    /// <summary>The witness QR of <paramref name="signed"/> as a PNG with its 4-module quiet zone.</summary>
    public static byte[] RenderPng(SignedSubmission signed, int pixelsPerModule = PixelsPerModule)
    {
        using var generator = new QRCodeGenerator();
        using var data = generator.CreateQrCode(WitnessQr.Encode(signed), QRCodeGenerator.ECCLevel.M);
        return new PngByteQRCode(data).GetGraphic(pixelsPerModule);
    }

    private static int Run(string submissionPath, string outPath)
    {
        SignedSubmission signed;
        try
        {
            byte[] wire = File.ReadAllBytes(submissionPath);
            if (wire.Length > WitnessQr.MaxWireBytes)
                return Fail($"{submissionPath}: {wire.Length} byte, terlalu besar untuk kode QR saksi (maks. {WitnessQr.MaxWireBytes}).");
            // Only a readable submission goes on the screen: a witness must never be shown bytes kpu-verify refuses.
            signed = SignedSubmission.Decode(wire);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Fail($"Berkas {submissionPath} tidak dapat dibaca: {e.Message}");
        }
        catch (SubmissionFormatException e)
        {
            return Fail($"{submissionPath} bukan formulir bertanda tangan yang sah: {e.Message}");
        }
        byte[] png;
        try
        {
            png = RenderPng(signed);
        }
        catch (QRCoder.Exceptions.DataTooLongException e)
        {
            return Fail($"Formulir terlalu besar untuk satu kode QR: {e.Message}");
        }
        try
        {
            File.WriteAllBytes(outPath, png);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Fail($"Tidak dapat menulis {outPath}: {e.Message}");
        }
        var s = signed.Submission;
        Console.WriteLine($"Kode QR saksi {s.Contest.Slug()} TPS {s.Tps} (nomor urut {s.Sequence}, {signed.Wire.Length} byte, hash {signed.Hash}) disimpan di {outPath}.");
        Console.WriteLine("Saksi dapat memotretnya dan memeriksanya dengan: kpu-verify qr FOTO --log URL --key KUNCI --root root.pem --issuing issuing.pem");
        return 0;
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine(message);
        return 2;
    }
}
