// carbot remote: talks to carbot over its own websocket (/ws next to this page).
// Safety rules, because a stale command must never move the car:
// - Only a stop is ever sent late: pressed while disconnected, it goes out the moment the
//   page reconnects. Any other press while disconnected is dropped and says so.
// - A stop that carbot has not answered within STOP_ANSWER_MS counts as lost: the page
//   drops the connection, reconnects and sends it again.
(function () {
  'use strict';

  var RETRY_MIN_MS = 500;
  var RETRY_MAX_MS = 10000;
  var CONNECT_TIMEOUT_MS = 8000;
  var STOP_ANSWER_MS = 2000;
  var KEYS = {
    ArrowUp: 'forward',
    ArrowDown: 'backward',
    ArrowRight: 'faster',
    '+': 'faster',
    '=': 'faster',
    ArrowLeft: 'slower',
    '-': 'slower'
  };

  var socket = null;
  var connected = false;
  var connectStartedAt = 0;
  var brokerOnline = false;
  // Until carbot's first message on a connection the page does not know the broker's state:
  // it shows Connecting, never a guess such as "lost its MQTT broker".
  var linkKnown = false;
  var everConnected = false;
  var carState = null;
  var pendingStop = false;
  var awaiting = []; // commands sent on this socket, in order, not yet answered
  var retryMs = RETRY_MIN_MS;
  var retryTimer = null;
  var stopAnswerTimer = null;
  var heartbeatMs = 5000;
  var lastHeardAt = 0;

  function $(id) { return document.getElementById(id); }

  // ?token= is read once and taken out of the address bar and the history, so that it is not
  // shown, bookmarked or shared with the address. The cookie carbot set with this page normally
  // carries the login; the token kept here is the fallback where cookies are off.
  var token = new URLSearchParams(location.search).get('token');
  if (token && window.history && history.replaceState) {
    var clean = new URL(location.href);
    clean.searchParams.delete('token');
    history.replaceState(history.state, '', clean.pathname + clean.search + clean.hash);
  }

  function socketUrl() {
    var url = new URL('ws', document.baseURI);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    if (token) url.searchParams.set('token', token);
    return url.href;
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    if (socket) return;
    var ws;
    try {
      ws = new WebSocket(socketUrl());
    } catch (e) {
      scheduleReconnect();
      return;
    }
    socket = ws;
    connectStartedAt = Date.now();
    ws.onopen = function () {
      connected = true;
      everConnected = true;
      linkKnown = false;
      lastHeardAt = Date.now();
      loadPhotos();
      if (pendingStop) {
        pendingStop = false;
        transmit('stop');
        say('Stop sent after reconnecting.');
      }
      render();
    };
    ws.onmessage = function (event) {
      if (ws !== socket) return;
      lastHeardAt = Date.now();
      receive(event.data);
    };
    ws.onclose = function () {
      if (ws === socket) dropped();
    };
  }

  function dropped() {
    var ws = socket;
    socket = null;
    connected = false;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      try { ws.close(); } catch (e) { /* already closing */ }
    }
    if (awaiting.indexOf('stop') >= 0) pendingStop = true;
    awaiting = [];
    clearTimeout(stopAnswerTimer);
    render();
    scheduleReconnect();
  }

  function scheduleReconnect() {
    if (retryTimer) return;
    var delay = retryMs * (0.8 + Math.random() * 0.4);
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    retryTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    retryMs = RETRY_MIN_MS;
    if (!socket) connect();
  }

  function transmit(command) {
    socket.send(command);
    awaiting.push(command);
    if (command === 'stop') {
      clearTimeout(stopAnswerTimer);
      stopAnswerTimer = setTimeout(function () {
        if (awaiting.indexOf('stop') >= 0) {
          say('No answer from carbot: reconnecting to send stop again.', 'error');
          dropped();
        }
      }, STOP_ANSWER_MS);
    }
  }

  function press(command) {
    if (socket && connected && socket.readyState === WebSocket.OPEN) {
      transmit(command);
      return;
    }
    if (command === 'stop') {
      pendingStop = true;
      say('Not connected: stop will be sent the moment the page reconnects.', 'error');
      reconnectNow();
      render();
      return;
    }
    say('Not connected: ' + command + ' was not sent.', 'error');
  }

  function receive(text) {
    var message;
    try { message = JSON.parse(text); } catch (e) { return; }
    if (message.type === 'state') {
      carState = message.state || null;
      brokerOnline = message.online === true;
      linkKnown = true;
      if (typeof message.heartbeatMs === 'number') heartbeatMs = message.heartbeatMs;
      retryMs = RETRY_MIN_MS;
      render();
    } else if (message.type === 'photo') {
      loadPhotos();
    } else if (message.type === 'link') {
      brokerOnline = message.online === true;
      linkKnown = true;
      render();
    } else if (message.type === 'result') {
      awaiting.shift();
      if (awaiting.indexOf('stop') < 0) clearTimeout(stopAnswerTimer);
      var result = message.result || {};
      if (result.error) say('carbot refused: ' + result.error + '.', 'error');
      else if (result.note) say(result.note);
      else say('');
    }
  }

  function say(text, kind) {
    var el = $('message');
    el.textContent = text;
    el.dataset.kind = kind || 'info';
  }

  function render() {
    var online = connected && linkKnown && brokerOnline;
    var connecting = connected ? !linkKnown : !everConnected;
    var queued = pendingStop ? ' (stop queued)' : '';
    $('status').dataset.online = String(online);
    $('status').dataset.connecting = String(connecting);
    $('status-text').textContent = online ? 'Online' : (connecting ? 'Connecting' : 'Offline');
    $('status-detail').textContent = connecting
      ? (connected ? 'Connected, waiting for the car’s state…' : 'Connecting to carbot' + queued + '…')
      : !connected
        ? 'No connection to carbot, reconnecting' + queued + '…'
        : (brokerOnline ? 'Connected to carbot.' : 'carbot is up but has lost its MQTT broker; buttons still work.');

    var motion = carState && typeof carState.motion === 'string' ? carState.motion : null;
    var speed = carState && typeof carState.speed === 'number' ? carState.speed : null;
    var reason = carState && typeof carState.reason === 'string' ? carState.reason : '';
    $('readout').dataset.stale = String(!connected);
    $('motion').textContent = motion || '—';
    $('reason').textContent = !connected && carState ? 'last known' : (reason && reason !== 'command' ? 'by ' + reason : '');
    $('speed').textContent = speed === null ? '—' : speed + ' %';
    $('speed-bar').style.width = (speed === null ? 0 : Math.max(0, Math.min(100, speed))) + '%';

    var buttons = document.querySelectorAll('button[data-command]');
    for (var i = 0; i < buttons.length; i++) {
      var b = buttons[i];
      var command = b.dataset.command;
      // Stop is never shown as unavailable: pressing it offline queues it.
      if (command !== 'stop') b.setAttribute('aria-disabled', String(!connected));
      var active = connected && (
        (command === 'forward' && motion === 'forward') ||
        (command === 'backward' && motion === 'backward') ||
        (command === 'stop' && motion === 'stopped'));
      b.dataset.active = String(active);
    }
    renderTrack();
  }

  // The latest picture of each stop (camera.command), from /photos; fetched again on each new one.
  var photosKey = '';
  function loadPhotos() {
    if (!window.fetch) return;
    fetch('photos', { credentials: 'same-origin', cache: 'no-store' }).then(function (response) {
      return response.ok ? response.json() : {};
    }).then(function (latest) {
      var key = JSON.stringify(latest);
      if (key === photosKey) return;
      photosKey = key;
      var box = $('photos');
      box.textContent = '';
      Object.keys(latest).sort().forEach(function (folder) {
        var photo = latest[folder];
        var figure = document.createElement('figure');
        figure.className = 'photo';
        figure.dataset.stop = photo.stop;
        var img = document.createElement('img');
        img.src = photo.url.replace(/^\//, '');
        img.alt = 'Latest picture at ' + photo.stop;
        img.loading = 'lazy';
        var caption = document.createElement('figcaption');
        caption.textContent = photo.stop + (photo.time ? ' · ' + new Date(photo.time).toLocaleString() : '');
        figure.appendChild(img);
        figure.appendChild(caption);
        box.appendChild(figure);
      });
      box.hidden = box.childNodes.length === 0;
    }, function () { /* offline: the pictures shown stay */ });
  }

  // The track view: the car on its track, a button per stop (tap to go), home, patrol and calibrate.
  var shownStops = '';

  function place(value, unit) {
    return unit === 'm' ? value.toFixed(2) + ' m' : Math.round(value * 100) + ' %';
  }

  function renderTrack() {
    var track = carState && carState.track && typeof carState.track === 'object' ? carState.track : null;
    $('track').hidden = !track;
    if (!track) return;
    var length = typeof track.length === 'number' && track.length > 0 ? track.length : 1;
    var stops = track.stops && typeof track.stops === 'object' ? track.stops : {};
    var at = function (value) { return Math.max(0, Math.min(100, (value / length) * 100)) + '%'; };
    var position = typeof carState.position === 'number' ? carState.position : null;
    var target = typeof carState.target === 'number' ? carState.target : null;

    var key = JSON.stringify(stops);
    if (key !== shownStops) {
      shownStops = key;
      var group = $('track-stops');
      var marks = $('track-marks');
      group.textContent = '';
      marks.textContent = '';
      Object.keys(stops).forEach(function (name) {
        var button = document.createElement('button');
        button.type = 'button';
        button.className = 'track-stop';
        button.textContent = name;
        button.setAttribute('aria-label', 'Go to ' + name);
        button.dataset.command = JSON.stringify({ goto: name });
        button.dataset.stop = name;
        button.addEventListener('click', function () { press(button.dataset.command); });
        group.appendChild(button);
        var mark = document.createElement('span');
        mark.className = 'track-mark';
        mark.style.left = at(stops[name]);
        marks.appendChild(mark);
      });
    }

    var car = $('track-car');
    car.dataset.known = String(position !== null);
    if (position !== null) car.style.left = at(position);
    var spread = $('track-spread');
    var u = typeof carState.uncertainty === 'number' && position !== null ? carState.uncertainty : 0;
    spread.style.left = at(position === null ? 0 : position - u);
    spread.style.width = position === null ? '0' : Math.min(100, ((2 * u) / length) * 100) + '%';
    $('track-target').hidden = target === null;
    if (target !== null) $('track-target').style.left = at(target);
    $('track-sim').hidden = typeof carState.simPosition !== 'number';
    if (typeof carState.simPosition === 'number') $('track-sim').style.left = at(carState.simPosition);

    $('position').textContent = position === null ? 'not homed' : place(position, track.unit);
    var task = typeof carState.task === 'string' ? carState.task : '';
    $('track-task').textContent = task ? task + (target !== null ? ' to ' + place(target, track.unit) : '') : '';
    var buttons = document.querySelectorAll('button[data-stop]');
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].dataset.active = String(connected && target !== null && stops[buttons[i].dataset.stop] === target);
    }
    $('home').dataset.active = String(connected && task === 'home');
    $('patrol').dataset.active = String(connected && task === 'patrol');
    $('calibrate').dataset.active = String(connected && task === 'calibrate');
  }

  function wireButtons() {
    var buttons = document.querySelectorAll('button[data-command]');
    for (var i = 0; i < buttons.length; i++) {
      (function (b) {
        var command = b.dataset.command;
        var pointerAt = 0;
        if (command === 'stop') {
          // Stop acts on touch-down: it cannot be lost to a finger sliding off or a scroll.
          b.addEventListener('pointerdown', function (event) {
            if (event.button !== 0) return;
            pointerAt = Date.now();
            press('stop');
          });
        }
        // Everything else acts on click, which a scroll cancels: a swipe that starts on
        // Forward must not drive the car. Click also covers Enter and assistive technology.
        b.addEventListener('click', function () {
          if (command === 'stop' && Date.now() - pointerAt < 1000) return;
          press(command);
        });
      })(buttons[i]);
    }
  }

  function wireKeys() {
    document.addEventListener('keydown', function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      var command = event.code === 'Space' || event.key === ' ' ? 'stop' : KEYS[event.key];
      if (!command) return;
      // Arrows would scroll; Space would also press whichever button has the focus.
      event.preventDefault();
      if (event.repeat) return;
      press(command);
    });
    document.addEventListener('keyup', function (event) {
      if (event.code === 'Space' || event.key === ' ') event.preventDefault();
    });
  }

  function watchConnection() {
    setInterval(function () {
      var now = Date.now();
      if (socket && connected && now - lastHeardAt > heartbeatMs * 2.5) dropped();
      else if (socket && !connected && now - connectStartedAt > CONNECT_TIMEOUT_MS) dropped();
    }, 1000);
    // A phone waking up or rejoining Wi-Fi should not wait out the backoff.
    document.addEventListener('visibilitychange', function () {
      if (document.visibilityState === 'visible') reconnectNow();
    });
    window.addEventListener('online', reconnectNow);
    window.addEventListener('pageshow', reconnectNow);
  }

  wireButtons();
  wireKeys();
  watchConnection();
  render();
  connect();
})();
