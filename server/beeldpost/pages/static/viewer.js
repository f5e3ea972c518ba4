/* Beeldpost: start Mirador 4 or Universal Viewer 4.4 on an item page or the embed page.
 *
 * The page gives its settings in the JSON block #beeldpost-config (no inline script, so a
 * strict Content-Security-Policy holds). The viewers' interface language follows the
 * browser (navigator.languages): Dutch or English. A IIIF Content State region chosen by
 * the server (from ?iiif-content=) opens the viewer zoomed to that region; "share this
 * view" makes such a link of what is on screen (IIIF Content State API 1.0 encoding).
 */
(function () {
  'use strict';

  var config = JSON.parse(document.getElementById('beeldpost-config').textContent);
  var lang = uiLanguage();

  function uiLanguage() {
    var prefs = navigator.languages && navigator.languages.length
      ? navigator.languages : [navigator.language || 'en'];
    for (var i = 0; i < prefs.length; i += 1) {
      var code = String(prefs[i]).toLowerCase();
      if (code === 'nl' || code.indexOf('nl-') === 0) return 'nl';
      if (code === 'en' || code.indexOf('en-') === 0) return 'en';
    }
    return 'en';
  }

  function emptied(id) {
    var element = document.getElementById(id);
    while (element.firstChild) element.removeChild(element.firstChild);
    return element;
  }

  // ------------------------------------------------------------------ content state

  /* content-state-encoding: encodeURIComponent, base64url, no padding (spec section 6). */
  function encodeContentState(state) {
    return btoa(encodeURIComponent(JSON.stringify(state)))
      .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function contentState(region) {
    return {
      '@context': 'http://iiif.io/api/presentation/3/context.json',
      type: 'Annotation',
      motivation: ['contentState'],
      target: {
        id: config.canvas + (region ? '#xywh=' + region.join(',') : ''),
        type: 'Canvas',
        partOf: [{ id: config.manifest, type: 'Manifest' }],
      },
    };
  }

  /* The part of the canvas on screen, in whole canvas pixels; null when all of it shows. */
  function visibleRegion(viewport) {
    var bounds = viewport.getBounds(true);
    var width = config.canvasSize[0];
    var height = config.canvasSize[1];
    var x0 = Math.max(0, Math.round(bounds.x));
    var y0 = Math.max(0, Math.round(bounds.y));
    var x1 = Math.min(width, Math.round(bounds.x + bounds.width));
    var y1 = Math.min(height, Math.round(bounds.y + bounds.height));
    if (x1 <= x0 || y1 <= y0) return null;
    if (x0 === 0 && y0 === 0 && x1 === width && y1 === height) return null;
    return [x0, y0, x1 - x0, y1 - y0];
  }

  // ------------------------------------------------------------------ Mirador

  function startMirador() {
    var embed = config.mode === 'embed';
    var windowConfig = { manifestId: config.manifest, canvasId: config.canvas };
    if (config.region) {
      // Fitted on opening; Mirador keeps it because osdConfig.preserveViewport is on.
      windowConfig.initialViewerConfig = { bounds: config.region };
    }
    emptied('viewer');
    var mirador = Mirador.viewer({
      id: 'viewer',
      language: lang,
      availableLanguages: { nl: 'Nederlands', en: 'English' },
      window: {
        allowClose: false,
        allowMaximize: false,
        allowFullscreen: true,
        allowTopMenuButton: !embed,
        hideWindowTitle: embed,
        sideBarOpen: !embed,
        defaultSideBarPanel: 'annotations',
        sideBarPanel: 'annotations',
        highlightAllAnnotations: true,
        panels: { info: true, attribution: true, canvas: false, annotations: true, search: true, layers: false },
        views: [{ key: 'single', behaviors: ['individuals'] }],
      },
      windows: [windowConfig],
      workspace: { type: 'mosaic', allowNewWindows: false, draggingEnabled: false, showZoomControls: true },
      workspaceControlPanel: { enabled: false },
      thumbnailNavigation: { defaultPosition: 'off', displaySettings: false },
      // OpenSeadragon 5 draws with WebGL by default; without a GPU (virtual machines, older
      // laptops, headless browsers) that is software-rendered and several times slower than
      // its canvas drawer, which is all one photograph needs.
      osdConfig: { preserveViewport: true, drawer: 'canvas' },
      theme: {
        palette: {
          // Tagged regions (the people) tinted; a hovered or selected one filled, so it shows
          // at any zoom (Mirador's outlines are a hairline at the home zoom).
          annotations: {
            default: { fillStyle: '#00BFFF', globalAlpha: 0.12 },
            hovered: { fillStyle: '#BF00FF', globalAlpha: 0.4 },
            selected: { fillStyle: '#FFD600', globalAlpha: 0.4 },
          },
        },
      },
    });
    window.beeldpostViewer = mirador; // for tests and the console
    if (!embed) setUpShare(mirador);
  }

  function miradorViewport(mirador) {
    var windows = mirador.store.getState().windows;
    var windowId = Object.keys(windows)[0];
    var reference = windowId && Mirador.OSDReferences.get(windowId);
    var osd = reference && reference.current;
    return osd && osd.viewport ? osd.viewport : null;
  }

  function setUpShare(mirador) {
    var box = document.getElementById('share');
    var button = document.getElementById('share-button');
    var link = document.getElementById('share-link');
    var status = document.getElementById('share-status');
    if (!box || !button || !link) return;
    box.hidden = false;
    button.addEventListener('click', function () {
      var viewport = miradorViewport(mirador);
      var region = viewport ? visibleRegion(viewport) : null;
      var url = config.page + '?iiif-content=' + encodeContentState(contentState(region));
      link.href = url;
      link.textContent = url;
      link.hidden = false;
      if (window.history && window.history.replaceState) {
        window.history.replaceState(null, '', url);
      }
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(url).then(function () {
          if (status) status.textContent = config.texts.share_copied;
        }, function () { /* no clipboard permission: the link is on the page */ });
      }
    });
  }

  // ------------------------------------------------------------------ Universal Viewer

  function fetchJson(url) {
    return fetch(url, { credentials: 'same-origin' }).then(function (response) {
      if (!response.ok) throw new Error(url + ': ' + response.status);
      return response.json();
    });
  }

  /* UV 4.4 has no Dutch interface. It puts its (English) strings into its configuration
   * before `configure` fires; swap each English string for its Dutch one, key by key. */
  function dutchOverlay(uvConfig, english, dutch) {
    var byEnglish = {};
    Object.keys(dutch).forEach(function (key) {
      if (english[key]) byEnglish[english[key]] = dutch[key];
    });
    (function walk(node) {
      Object.keys(node).forEach(function (key) {
        var value = node[key];
        if (typeof value === 'string' && Object.prototype.hasOwnProperty.call(byEnglish, value)) {
          node[key] = byEnglish[value];
        } else if (value && typeof value === 'object') {
          walk(value);
        }
      });
    }(uvConfig));
  }

  function startUV() {
    var element = emptied('viewer');
    element.classList.add('uv');
    var data = {
      iiifManifestId: config.manifest,
      canvasIndex: 0,
      locales: [{ name: lang === 'nl' ? 'nl-NL' : 'en-GB' }],
    };
    if (config.region) data.xywh = config.region.join(',');
    var uv = UV.init('viewer', data);
    window.beeldpostViewer = uv; // for tests and the console
    uv.on('configure', function (event) {
      var overrides = {
        options: { saveUserSettings: false },
        modules: {
          moreInfoRightPanel: { options: { panelOpen: true } },
          pdfCenterPanel: { options: { usePdfJs: false } }, // pdf.js would come from a CDN
        },
      };
      if (lang !== 'nl') {
        event.cb(overrides);
        return;
      }
      event.cb(Promise.all([fetchJson(config.assets + '/uv/locales/en-GB.json'), fetchJson(config.uvDutch)])
        .then(function (strings) {
          dutchOverlay(event.config, strings[0], strings[1]);
          return overrides;
        }, function () { return overrides; }));
    });
  }

  if (config.viewer === 'uv' && window.UV) startUV();
  else if (config.viewer === 'mirador' && window.Mirador) startMirador();
}());
