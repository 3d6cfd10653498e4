/* Video.js adds <style> elements at start-up unless told not to; the site's Content Security
   Policy (style-src 'self') forbids them, and viewer.css sizes the player instead. This module
   is imported first, so the flag is set before Video.js runs. */
window.VIDEOJS_NO_DYNAMIC_STYLE = true;
