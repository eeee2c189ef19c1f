using System.Device.Gpio;

namespace KpuEdge.Edge.Health;

/// <summary>The case-open switch: whether the device's case is open now, and a call the moment that changes.</summary>
public interface ITamperSwitch : IDisposable
{
    bool IsOpen { get; }

    /// <summary>Raised on every change, with the new state (true: opened).</summary>
    event Action<bool>? Changed;
}

/// <summary>
/// A case-open switch on a GPIO pin through System.Device.Gpio (the controller is injected: a fake driver in tests, the
/// Pi's own on a device). Wired between the pin and ground, closed while the case is shut; the pin's pull-up makes it
/// read high when the switch opens — and also when a wire is cut, which is what tampering looks like too.
/// </summary>
public sealed class GpioTamperSwitch : ITamperSwitch
{
    /// <summary>On a Raspberry Pi: BCM 17, header pin 11 (ground on pin 9).</summary>
    public const int DefaultPin = 17;

    private readonly GpioController _controller;
    private readonly int _pin;
    private readonly bool _ownsController;
    private int _lastOpen = -1;

    public GpioTamperSwitch(GpioController controller, int pin = DefaultPin, bool ownsController = false)
    {
        _controller = controller;
        _pin = pin;
        _ownsController = ownsController;
        _controller.OpenPin(pin, PinMode.InputPullUp);
        _lastOpen = IsOpen ? 1 : 0;
        _controller.RegisterCallbackForPinValueChangedEvent(pin, PinEventTypes.Rising | PinEventTypes.Falling, OnChanged);
    }

    public bool IsOpen => _controller.Read(_pin) == PinValue.High;

    public event Action<bool>? Changed;

    private void OnChanged(object sender, PinValueChangedEventArgs e)
    {
        bool open = e.ChangeType == PinEventTypes.Rising;
        // Contacts bounce: only a change of state is news.
        if (Interlocked.Exchange(ref _lastOpen, open ? 1 : 0) == (open ? 1 : 0)) return;
        Changed?.Invoke(open);
    }

    public void Dispose()
    {
        _controller.UnregisterCallbackForPinValueChangedEvent(_pin, OnChanged);
        _controller.ClosePin(_pin);
        if (_ownsController) _controller.Dispose();
    }
}
