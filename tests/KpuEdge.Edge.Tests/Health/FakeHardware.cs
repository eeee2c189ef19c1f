using System.Buffers.Binary;
using System.Device.Gpio;
using System.Device.I2c;

namespace KpuEdge.Edge.Tests.Health;

/// <summary>
/// An INA219 at the I²C seam: its registers, read and written as the chip does (a pointer byte, then two bytes big-endian),
/// so the real dotnet/iot binding does the decoding. Readings are set in the units the chip reports, for a 0.1 Ω shunt
/// calibrated to 100 µA per bit (power: 2 mW per bit).
/// </summary>
public sealed class FakeIna219 : I2cDevice
{
    private readonly ushort[] _registers = new ushort[6];
    private byte _pointer;

    public override I2cConnectionSettings ConnectionSettings { get; } = new(1, 0x40);

    /// <summary>The sensor stops answering (a loose cable).</summary>
    public bool Broken { get; set; }

    public void Set(int busMillivolts, int currentMilliamps, int powerMilliwatts)
    {
        _registers[2] = (ushort)((busMillivolts / 4) << 3 | 0b10); // conversion ready
        _registers[4] = unchecked((ushort)(short)(currentMilliamps * 10));
        _registers[3] = (ushort)(powerMilliwatts / 2);
    }

    public ushort Register(int index) => _registers[index];

    public override byte ReadByte() => throw new NotSupportedException();

    public override void Read(Span<byte> buffer)
    {
        if (Broken) throw new IOException("Remote I/O error");
        BinaryPrimitives.WriteUInt16BigEndian(buffer, _registers[_pointer]);
    }

    public override void WriteByte(byte value)
    {
        if (Broken) throw new IOException("Remote I/O error");
        _pointer = value;
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (Broken) throw new IOException("Remote I/O error");
        _pointer = buffer[0];
        if (buffer.Length < 3) return;
        ushort value = BinaryPrimitives.ReadUInt16BigEndian(buffer[1..]);
        // Bit 15 of the configuration register resets the chip; the readings stay what the test set.
        if (_pointer is 0 or 5) _registers[_pointer] = (ushort)(value & 0x7FFF);
    }

    public override void WriteRead(ReadOnlySpan<byte> writeBuffer, Span<byte> readBuffer)
    {
        Write(writeBuffer);
        Read(readBuffer);
    }
}

/// <summary>A GPIO controller's driver at the seam: pins are inputs the test drives, with the edges a real pin would raise.</summary>
public sealed class FakeGpioDriver : GpioDriver
{
    private readonly Dictionary<int, PinValue> _values = [];
    private readonly Dictionary<int, PinMode> _modes = [];
    private readonly Dictionary<int, List<(PinEventTypes Events, PinChangeEventHandler Handler)>> _callbacks = [];

    protected override int PinCount => 28;

    /// <summary>The switch moves: the pin reads <paramref name="value"/>, and a rising or falling edge is raised.</summary>
    public void Drive(int pin, PinValue value)
    {
        var before = _values.GetValueOrDefault(pin, PinValue.Low);
        _values[pin] = value;
        if (before == value) return;
        var edge = value == PinValue.High ? PinEventTypes.Rising : PinEventTypes.Falling;
        foreach (var (events, handler) in _callbacks.GetValueOrDefault(pin) ?? [])
            if ((events & edge) != 0) handler(this, new PinValueChangedEventArgs(edge, pin));
    }

    public PinMode ModeOf(int pin) => _modes[pin];

    protected override void OpenPin(int pinNumber) => _values.TryAdd(pinNumber, PinValue.Low);
    protected override void ClosePin(int pinNumber) => _callbacks.Remove(pinNumber);
    protected override void SetPinMode(int pinNumber, PinMode mode) => _modes[pinNumber] = mode;
    protected override PinMode GetPinMode(int pinNumber) => _modes[pinNumber];
    protected override bool IsPinModeSupported(int pinNumber, PinMode mode) => true;
    protected override PinValue Read(int pinNumber) => _values.GetValueOrDefault(pinNumber, PinValue.Low);
    protected override void Write(int pinNumber, PinValue value) => _values[pinNumber] = value;
    protected override void Toggle(int pinNumber) => _values[pinNumber] = !_values.GetValueOrDefault(pinNumber, PinValue.Low);
    protected override WaitForEventResult WaitForEvent(int pinNumber, PinEventTypes eventTypes, CancellationToken cancellationToken) =>
        throw new NotSupportedException("The tamper switch is read by callback.");
    protected override void AddCallbackForPinValueChangedEvent(int pinNumber, PinEventTypes eventTypes, PinChangeEventHandler callback)
    {
        if (!_callbacks.TryGetValue(pinNumber, out var list)) _callbacks[pinNumber] = list = [];
        list.Add((eventTypes, callback));
    }
    protected override void RemoveCallbackForPinValueChangedEvent(int pinNumber, PinChangeEventHandler callback) =>
        _callbacks.GetValueOrDefault(pinNumber)?.RemoveAll(c => c.Handler == callback);
}
