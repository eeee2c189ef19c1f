namespace KpuEdge.Crypto.Tests;

public class DeviceKeyTests
{
    [Fact]
    public void A_deterministic_key_is_the_same_for_the_same_label_and_seed()
    {
        var a = DeviceKey.Deterministic("dev-3273011001003-a", 42);
        var b = DeviceKey.Deterministic("dev-3273011001003-a", 42);

        Assert.Equal(a.PrivateBytes(), b.PrivateBytes());
        Assert.Equal(a.PublicKey.Encoded, b.PublicKey.Encoded);
        Assert.Equal(32, a.PublicKey.Encoded.Length);
        Assert.Equal(32, a.PrivateBytes().Length);
    }

    [Fact]
    public void A_deterministic_key_differs_with_the_label_or_the_seed()
    {
        var keys = new[]
        {
            DeviceKey.Deterministic("dev-a", 1),
            DeviceKey.Deterministic("dev-b", 1),
            DeviceKey.Deterministic("dev-a", 2),
        }.Select(k => k.PublicKey.ToBase64());
        Assert.Equal(3, keys.Distinct().Count());
    }

    [Fact]
    public void A_key_restored_from_its_private_bytes_signs_the_same()
    {
        var key = DeviceKey.Deterministic("dev-a", 1);
        var restored = DeviceKey.FromPrivateBytes(key.PrivateBytes());
        byte[] message = "KPU-C1\0form"u8.ToArray();

        Assert.Equal(key.PublicKey.Encoded, restored.PublicKey.Encoded);
        Assert.Equal(key.Sign(message), restored.Sign(message));
        Assert.Equal(64, key.Sign(message).Length);
    }

    [Fact]
    public void Signs_and_verifies_and_refuses_a_changed_message()
    {
        var key = DeviceKey.Deterministic("dev-a", 1);
        byte[] message = "hasil TPS 003"u8.ToArray();
        var signature = key.Sign(message);

        Assert.True(key.PublicKey.Verify(message, 0, message.Length, signature));
        message[0] ^= 1;
        Assert.False(key.PublicKey.Verify(message, 0, message.Length, signature));
        Assert.False(key.PublicKey.Verify(message, 0, message.Length, signature.AsSpan(0, 63)));
        Assert.False(key.PublicKey.Verify(message, 0, message.Length, []));
    }

    [Fact]
    public void Generated_keys_differ()
    {
        Assert.NotEqual(DeviceKey.Generate().PublicKey.Encoded, DeviceKey.Generate().PublicKey.Encoded);
    }

    [Fact]
    public void A_public_key_survives_base64()
    {
        var key = DeviceKey.Deterministic("dev-a", 1).PublicKey;
        var copy = DevicePublicKey.FromBase64(key.ToBase64());
        Assert.Equal(key.Encoded, copy.Encoded);
        byte[] message = [1, 2, 3];
        Assert.True(copy.Verify(message, 0, message.Length, DeviceKey.Deterministic("dev-a", 1).Sign(message)));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(31)]
    [InlineData(33)]
    [InlineData(64)]
    public void Refuses_keys_of_the_wrong_length(int length)
    {
        Assert.Throws<ArgumentException>(() => DeviceKey.FromPrivateBytes(new byte[length]));
        Assert.Throws<ArgumentException>(() => new DevicePublicKey(new byte[length]));
    }
}
