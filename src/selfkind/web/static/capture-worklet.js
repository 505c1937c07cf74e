// Runs on the audio thread: hands each block of microphone samples to the page, which
// downsamples them to 16 kHz and sends them to selfkind. Nothing else happens here.
"use strict";
class Capture extends AudioWorkletProcessor {
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) this.port.postMessage(channel.slice(0));
    return true;
  }
}
registerProcessor("selfkind-capture", Capture);
