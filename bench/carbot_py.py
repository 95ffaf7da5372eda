#!/usr/bin/python3
"""The Python carbot that carbot replaces, as the benchmark's "before".

carbot.py (solarslurpi/carbot, last version eacd6e5) was a paho-mqtt client driving two
continuous-rotation servos through Adafruit's ServoKit. This script behaves as it did, with
the servos replaced by stand-ins that only keep their throttle, so the benchmark measures the
same MQTT and Python work without a servo HAT:

* paho-mqtt's client in its own loop (``loop_forever``), a clean session, subscribed to
  ``carbot/move`` at QoS 0 on every connect;
* a throttle from 0.1 to 1.0 in steps of 0.1, starting at 0.1, never below 0.1; forward is
  left = -throttle, right = +throttle (the left servo is mounted mirrored);
* every action logged at DEBUG to stdout (``%(asctime)s:%(levelname)s:%(message)s``);
* its defects kept: retained commands are obeyed, a lost broker does not stop the servos,
  SIGTERM is not handled.

carbot.py took only the letters ``f b s + -``; this stand-in takes the words too
(``forward`` … ``slower``), so that the benchmark can send every subject the same payloads.
Two more additions let it be measured like carbot: it publishes a retained ``Online`` on
``tele/carbot/LWT`` once subscribed (its MQTT will is a retained ``Offline``) and a JSON
answer on ``stat/carbot/RESULT`` for every message.

The broker is CARBOT_MQTT_URL (``mqtt://host:port``, default ``mqtt://127.0.0.1:1883``).
Run it with Debian's /usr/bin/python3 and python3-paho-mqtt (paho 1.6).
"""

import json
import logging
import os
import sys
import urllib.parse

import paho.mqtt.client as mqtt

MOVE_TOPIC = "carbot/move"
LWT_TOPIC = "tele/carbot/LWT"
RESULT_TOPIC = "stat/carbot/RESULT"

LOWEST, HIGHEST, STEP = 0.1, 1.0, 0.1

MOVES = {
    "f": "forward", "b": "backward", "s": "stop", "+": "faster", "-": "slower",
    "forward": "forward", "backward": "backward", "stop": "stop", "faster": "faster", "slower": "slower",
}

log = logging.getLogger("carbot")


class Servo:
    """adafruit_motor.servo.ContinuousServo without the PCA9685: it keeps its throttle."""

    def __init__(self):
        self.throttle = 0.0

    def set(self, value):
        if not -1.0 <= value <= 1.0:
            raise ValueError("throttle must be between -1.0 and 1.0")
        self.throttle = value


class Car:
    def __init__(self):
        self.left, self.right = Servo(), Servo()
        self.speed = LOWEST
        self.motion = "stopped"

    def move(self, word):
        if word in ("forward", "backward", "stop"):
            self.motion = "stopped" if word == "stop" else word
        elif word == "faster":
            self.speed = min(HIGHEST, round(self.speed + STEP, 1))
        else:
            self.speed = max(LOWEST, round(self.speed - STEP, 1))
        sign = {"forward": 1, "backward": -1, "stopped": 0}[self.motion]
        self.left.set(-sign * self.speed)
        self.right.set(sign * self.speed)
        log.debug("%s: motion %s throttle %.1f (left %.1f, right %.1f)",
                  word, self.motion, self.speed, self.left.throttle, self.right.throttle)
        return {"move": word, "motion": self.motion, "throttle": self.speed,
                "left": self.left.throttle, "right": self.right.throttle}


def broker():
    url = os.environ.get("CARBOT_MQTT_URL", "mqtt://127.0.0.1:1883")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        sys.exit("carbot_py: CARBOT_MQTT_URL is not an mqtt://host:port URL: %r" % url)
    try:
        return parts.hostname, parts.port or 1883
    except ValueError:
        sys.exit("carbot_py: CARBOT_MQTT_URL has a bad port: %r" % url)


def main():
    logging.basicConfig(stream=sys.stdout, level=logging.DEBUG, format="%(asctime)s:%(levelname)s:%(message)s")
    host, port = broker()
    car = Car()
    client = mqtt.Client(client_id="carbot-py-%d" % os.getpid(), clean_session=True)
    client.will_set(LWT_TOPIC, "Offline", qos=1, retain=True)

    def on_connect(client, _userdata, _flags, rc):
        if rc != 0:
            log.error("connection refused: %s", mqtt.connack_string(rc))
            return
        log.debug("connected to %s:%d", host, port)
        client.subscribe(MOVE_TOPIC)

    def on_subscribe(client, _userdata, _mid, _granted):
        log.debug("subscribed to %s", MOVE_TOPIC)
        client.publish(LWT_TOPIC, "Online", qos=1, retain=True)

    def on_message(client, _userdata, msg):
        text = msg.payload.decode("utf-8", errors="replace")
        word = MOVES.get(text)
        if word is None:
            log.warning("unknown command %r", text[:64])
            answer = {"error": "unknown command", "payload": text[:64]}
        else:
            answer = car.move(word)
        client.publish(RESULT_TOPIC, json.dumps(answer))

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(host, port, keepalive=60)
    client.loop_forever()


if __name__ == "__main__":
    main()
